export type { MeshErrorClass } from './mesh-error.js';
export { defineError, hasCode, MeshError, messageOf } from './mesh-error.js';
