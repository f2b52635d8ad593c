import { boolean, bytes, duration, integer, natsUrls, oneOf, type Parser, port, text } from './parse.js';

/** One documented setting: where it lives in the YAML file, its environment variable, parser and default. */
export interface Setting<T = unknown> {
  /** Dotted path in the configuration object and the YAML file, e.g. `mqtt.port`. */
  readonly path: string;
  readonly env: string;
  readonly parse: Parser<T>;
  /** Undefined = optional with no value. */
  readonly default: T | undefined;
  readonly description: string;
}

function setting<T>(path: string, env: string, parse: Parser<T>, def: T | undefined, description: string): Setting<T> {
  return { path, env, parse, default: def, description };
}

/** Default MQTT port, as registered with IANA. */
export const DEFAULT_MQTT_PORT = 1883;
/** Default WebSocket port. */
export const DEFAULT_WS_PORT = 8080;
/** Admin ports (`/healthz`, `/readyz`, `/metrics`), one per service so all three fit in one process. */
export const DEFAULT_MQTT_ADMIN_PORT = 9101;
export const DEFAULT_WS_ADMIN_PORT = 9102;
export const DEFAULT_BRIDGE_ADMIN_PORT = 9103;
/** Largest MQTT packet accepted, in bytes (1 MiB; the protocol allows 256 MiB). */
export const DEFAULT_MQTT_MAX_PACKET_BYTES = 1024 * 1024;
/** Largest WebSocket frame accepted, in bytes (64 KiB, not the `ws` default of 100 MiB). */
export const DEFAULT_WS_MAX_FRAME_BYTES = 64 * 1024;
/** Time a new MQTT connection has to send CONNECT, in milliseconds. */
export const DEFAULT_MQTT_CONNECT_TIMEOUT_MS = 10_000;
/** How long class-1 messages stay in the tier streams, in milliseconds (24 h). */
export const DEFAULT_STREAM_MAX_AGE_MS = 24 * 3_600_000;
/** How long a graceful shutdown may take before connections are cut, in milliseconds. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const host = text(/^[^\s]+$/, 'a host name or IP address');

/** Every setting, in the order of the README's configuration reference. */
export const SETTINGS = [
  setting(
    'nats.url',
    'NATS_URL',
    natsUrls,
    undefined,
    'NATS server URL(s), comma-separated. Unset: the embedded in-process backbone.',
  ),
  setting(
    'nats.name',
    'NATS_CLIENT_NAME',
    text(),
    undefined,
    'Connection name shown by the NATS server (default: the service name).',
  ),
  setting('nats.user', 'NATS_USER', text(), undefined, 'NATS user name.'),
  setting('nats.pass', 'NATS_PASS', text(), undefined, 'NATS password.'),
  setting('nats.token', 'NATS_TOKEN', text(), undefined, 'NATS authentication token.'),
  setting(
    'prefix',
    'MESH_PREFIX',
    text(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'NATS tokens of letters, digits, _ or - joined by dots'),
    'mesh',
    'First subject token(s) of every mesh subject; several meshes can share one NATS account.',
  ),
  setting(
    'jetstream.replicas',
    'JETSTREAM_REPLICAS',
    integer(1, 5),
    1,
    'Replicas of each stream and bucket (3 in production clusters).',
  ),
  setting(
    'jetstream.maxAge',
    'STREAM_MAX_AGE',
    duration(0),
    DEFAULT_STREAM_MAX_AGE_MS,
    'How long QoS 1/2 messages are kept in the tier streams (0 = unlimited).',
  ),
  setting('jetstream.maxBytes', 'STREAM_MAX_BYTES', bytes(0), 0, 'Size limit of each tier stream (0 = unlimited).'),
  setting('logLevel', 'LOG_LEVEL', oneOf(LOG_LEVELS), 'info', 'Log level.'),
  setting(
    'shutdownGrace',
    'SHUTDOWN_GRACE',
    duration(0, 600_000),
    DEFAULT_SHUTDOWN_GRACE_MS,
    'Time allowed to drain on SIGTERM before connections are cut.',
  ),
  setting('adminHost', 'ADMIN_HOST', host, '0.0.0.0', 'Address the admin endpoints listen on.'),
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
  setting('ws.host', 'WS_HOST', host, '0.0.0.0', 'Address the WebSocket listener binds.'),
  setting('ws.port', 'WS_PORT', port, DEFAULT_WS_PORT, 'WebSocket port.'),
  setting(
    'ws.path',
    'WS_PATH',
    text(/^\/[^\s]*$/, 'a URL path starting with /'),
    '/ws',
    'URL path of the WebSocket endpoint.',
  ),
  setting(
    'ws.adminPort',
    'WS_ADMIN_PORT',
    port,
    DEFAULT_WS_ADMIN_PORT,
    'ws-edge admin port (/healthz, /readyz, /metrics).',
  ),
  setting(
    'ws.maxFrameSize',
    'WS_MAX_FRAME_SIZE',
    bytes(256, 16 * 1024 * 1024),
    DEFAULT_WS_MAX_FRAME_BYTES,
    'Largest WebSocket frame accepted.',
  ),
  setting(
    'ws.maxBuffered',
    'WS_MAX_BUFFERED',
    bytes(64 * 1024, 1024 ** 3),
    8 * 1024 * 1024,
    'Outbound bytes buffered for one client before it is closed as a slow consumer (4008).',
  ),
  setting(
    'ws.maxSubscriptions',
    'WS_MAX_SUBSCRIPTIONS',
    integer(1, 1_000_000),
    1_000,
    'Filters one WebSocket connection may subscribe to.',
  ),
  setting('ws.allowAnonymous', 'WS_ALLOW_ANONYMOUS', boolean, true, 'Accept clients without credentials.'),
  setting(
    'bridge.adminPort',
    'BRIDGE_ADMIN_PORT',
    port,
    DEFAULT_BRIDGE_ADMIN_PORT,
    'bridge admin port (/healthz, /readyz, /metrics).',
  ),
  setting(
    'bridge.maxInFlight',
    'BRIDGE_MAX_IN_FLIGHT',
    integer(1, 100_000),
    1_000,
    'QoS 1 messages a bridge replica has in flight per direction.',
  ),
] as const;

/** The validated, frozen configuration shared by every service. */
export interface MeshConfig {
  readonly nats: {
    readonly url: string | undefined;
    readonly name: string | undefined;
    readonly user: string | undefined;
    readonly pass: string | undefined;
    readonly token: string | undefined;
  };
  readonly prefix: string;
  readonly jetstream: { readonly replicas: number; readonly maxAge: number; readonly maxBytes: number };
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** Milliseconds. */
  readonly shutdownGrace: number;
  readonly adminHost: string;
  readonly mqtt: {
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
  };
  readonly ws: {
    readonly host: string;
    readonly port: number;
    readonly path: string;
    readonly adminPort: number;
    /** Bytes. */
    readonly maxFrameSize: number;
    /** Bytes. */
    readonly maxBuffered: number;
    readonly maxSubscriptions: number;
    readonly allowAnonymous: boolean;
  };
  readonly bridge: { readonly adminPort: number; readonly maxInFlight: number };
}
