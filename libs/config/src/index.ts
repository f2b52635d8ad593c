export { CONFIG_ERRORS, ConfigFileError, ConfigInvalidError } from './errors.js';
export type { LoadConfigOptions } from './load.js';
export { CONFIG_FILE_ENV, loadConfig } from './load.js';
export { formatDefault, settingsTable } from './reference.js';
export type { Setting } from './setting.js';
export type { MeshConfig } from './settings.js';
export { SETTINGS } from './settings.js';
export type { BridgeConfig } from './settings-bridge.js';
export { BRIDGE_SETTINGS, DEFAULT_BRIDGE_ADMIN_PORT } from './settings-bridge.js';
export type { CoreConfig, TelemetryConfig } from './settings-core.js';
export {
  CORE_SETTINGS,
  DEFAULT_METRIC_EXPORT_INTERVAL_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  DEFAULT_STREAM_MAX_AGE_MS,
} from './settings-core.js';
export type { MqttConfig } from './settings-mqtt.js';
export {
  DEFAULT_MQTT_ADMIN_PORT,
  DEFAULT_MQTT_CONNECT_TIMEOUT_MS,
  DEFAULT_MQTT_MAX_PACKET_BYTES,
  DEFAULT_MQTT_PORT,
  MQTT_SETTINGS,
} from './settings-mqtt.js';
export type { WsConfig } from './settings-ws.js';
export { DEFAULT_WS_ADMIN_PORT, DEFAULT_WS_MAX_FRAME_BYTES, DEFAULT_WS_PORT, WS_SETTINGS } from './settings-ws.js';
