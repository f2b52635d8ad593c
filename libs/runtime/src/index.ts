export { meteredBackbone } from './metered-backbone.js';
export type { RunningMesh, ServiceEntry, StartServicesOptions } from './run.js';
export { EMBEDDED_STREAM_MAX_BYTES, layoutFor, runMain, startServices } from './run.js';
export type { ServiceDeps, ServiceHandle, ServiceStarter } from './service.js';
