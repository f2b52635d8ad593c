export type { HeaderPairs, MessageMeta } from './headers.js';
export { decodeMeta, encodeMeta, HEADER, headerValue, isBridged } from './headers.js';
