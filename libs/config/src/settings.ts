import { BRIDGE_SETTINGS, type BridgeConfig } from './settings-bridge.js';
import { CORE_SETTINGS, type CoreConfig } from './settings-core.js';
import { MQTT_SETTINGS, type MqttConfig } from './settings-mqtt.js';
import { WS_SETTINGS, type WsConfig } from './settings-ws.js';

/**
 * Every setting, in the order of the README's configuration reference (`npm run docs:config`
 * regenerates that table). Each tier keeps its settings in its own file.
 */
export const SETTINGS = [...CORE_SETTINGS, ...MQTT_SETTINGS, ...WS_SETTINGS, ...BRIDGE_SETTINGS] as const;

/** The validated, frozen configuration shared by every service. */
export interface MeshConfig extends CoreConfig {
  readonly mqtt: MqttConfig;
  readonly ws: WsConfig;
  readonly bridge: BridgeConfig;
}
