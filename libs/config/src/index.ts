export { CONFIG_ERRORS, ConfigFileError, ConfigInvalidError } from './errors.js';
export type { LoadConfigOptions } from './load.js';
export { CONFIG_FILE_ENV, loadConfig } from './load.js';
export type { MeshConfig, Setting } from './settings.js';
export {
  DEFAULT_BRIDGE_ADMIN_PORT,
  DEFAULT_MQTT_ADMIN_PORT,
  DEFAULT_MQTT_CONNECT_TIMEOUT_MS,
  DEFAULT_MQTT_MAX_PACKET_BYTES,
  DEFAULT_MQTT_PORT,
  DEFAULT_SHUTDOWN_GRACE_MS,
  DEFAULT_STREAM_MAX_AGE_MS,
  DEFAULT_WS_ADMIN_PORT,
  DEFAULT_WS_MAX_FRAME_BYTES,
  DEFAULT_WS_PORT,
  SETTINGS,
} from './settings.js';
