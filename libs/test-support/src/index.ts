export type { InProcessOptions } from './in-process.js';
export { startInProcess } from './in-process.js';
export { uniqueName } from './names.js';
export type { NatsServerHandle, StartNatsOptions } from './nats-server.js';
export { natsServerBinary, startNatsServer } from './nats-server.js';
export { sleep, waitFor } from './wait.js';
