import { boolean, bytes, duration, integer, port } from './parse.js';
import { host, setting } from './setting.js';

/** Default MQTT port, as registered with IANA. */
export const DEFAULT_MQTT_PORT = 1883;
/** Admin port of mqtt-edge (`/healthz`, `/readyz`, `/metrics`); each service has its own so all fit in one process. */
export const DEFAULT_MQTT_ADMIN_PORT = 9101;
/** Largest MQTT packet accepted, in bytes (1 MiB; the protocol allows 256 MiB). */
export const DEFAULT_MQTT_MAX_PACKET_BYTES = 1024 * 1024;
/** Time a new MQTT connection has to send CONNECT, in milliseconds. */
export const DEFAULT_MQTT_CONNECT_TIMEOUT_MS = 10_000;

/** mqtt-edge settings. */
export const MQTT_SETTINGS = [
  setting('mqtt.host', 'MQTT_HOST', host, '0.0.0.0', 'Address the MQTT listener binds.'),
  setting('mqtt.port', 'MQTT_PORT', port, DEFAULT_MQTT_PORT, 'MQTT over TCP port.'),
  setting(
    'mqtt.adminPort',
    'MQTT_ADMIN_PORT',
    port,
    DEFAULT_MQTT_ADMIN_PORT,
    'mqtt-edge admin port (/healthz, /readyz, /metrics).',
  ),
  setting(
    'mqtt.maxPacketSize',
    'MQTT_MAX_PACKET_SIZE',
    bytes(64, 268_435_455),
    DEFAULT_MQTT_MAX_PACKET_BYTES,
    'Largest MQTT packet accepted.',
  ),
  setting(
    'mqtt.connectTimeout',
    'MQTT_CONNECT_TIMEOUT',
    duration(100, 600_000),
    DEFAULT_MQTT_CONNECT_TIMEOUT_MS,
    'Time a new connection has to send CONNECT.',
  ),
  setting(
    'mqtt.maxKeepalive',
    'MQTT_MAX_KEEPALIVE',
    integer(0, 65_535),
    0,
    'Largest keep alive granted, in seconds (0 = whatever the client asks).',
  ),
  setting('mqtt.allowAnonymous', 'MQTT_ALLOW_ANONYMOUS', boolean, true, 'Accept clients without credentials.'),
] as const;

/** `config.mqtt`: mqtt-edge settings. */
export interface MqttConfig {
  readonly host: string;
  readonly port: number;
  readonly adminPort: number;
  /** Bytes. */
  readonly maxPacketSize: number;
  /** Milliseconds. */
  readonly connectTimeout: number;
  /** Seconds; 0 = no cap. */
  readonly maxKeepalive: number;
  readonly allowAnonymous: boolean;
}
