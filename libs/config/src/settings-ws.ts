import { boolean, bytes, duration, integer, port, text } from './parse.js';
import { host, setting } from './setting.js';

/** Default WebSocket port. */
export const DEFAULT_WS_PORT = 8080;
/** Admin port of ws-edge. */
export const DEFAULT_WS_ADMIN_PORT = 9102;
/** Largest WebSocket frame accepted, in bytes (64 KiB, not the `ws` default of 100 MiB). */
export const DEFAULT_WS_MAX_FRAME_BYTES = 64 * 1024;

/** Publishes per second one WebSocket connection may make (token bucket refill rate). */
export const DEFAULT_WS_PUBLISH_RATE = 1_000;
/** Publishes one WebSocket connection may make in a burst (token bucket size). */
export const DEFAULT_WS_PUBLISH_BURST = 2_000;
/** Time between server pings to an idle WebSocket client, in milliseconds. */
export const DEFAULT_WS_PING_INTERVAL_MS = 25_000;
/** A WebSocket client that sends nothing (not even a pong) for this long is closed, in milliseconds. */
export const DEFAULT_WS_IDLE_TIMEOUT_MS = 60_000;
/** An unacknowledged message on an acked subscription is redelivered after this long, in milliseconds. */
export const DEFAULT_WS_ACK_WAIT_MS = 30_000;
/** Unacknowledged messages in flight per acked subscription. */
export const DEFAULT_WS_ACK_MAX_IN_FLIGHT = 100;

/** Time a client that must authenticate has to send `connect` with a token, in milliseconds. */
export const DEFAULT_WS_AUTH_TIMEOUT_MS = 10_000;

/** ws-edge settings. */
export const WS_SETTINGS = [
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
  setting(
    'ws.allowAnonymous',
    'WS_ALLOW_ANONYMOUS',
    boolean,
    undefined,
    'Accept WebSocket clients without a token (default: true with the embedded backbone, false with NATS_URL).',
  ),
  setting(
    'ws.jwt.secret',
    'WS_JWT_SECRET',
    text(),
    undefined,
    'HMAC secret (at least 32 bytes): WebSocket clients may present JWTs signed HS256/384/512 with it.',
  ),
  setting(
    'ws.jwt.publicKeyFile',
    'WS_JWT_PUBLIC_KEY_FILE',
    text(),
    undefined,
    'PEM public key or certificate: WebSocket clients may present JWTs signed RS/PS/ES/EdDSA with it.',
  ),
  setting(
    'ws.jwt.jwksUrl',
    'WS_JWT_JWKS_URL',
    text(/^https?:\/\/\S+$/, 'an http(s) URL'),
    undefined,
    'JWKS URL (keys cached): WebSocket clients may present JWTs signed with one of its keys.',
  ),
  setting('ws.jwt.issuer', 'WS_JWT_ISSUER', text(), undefined, 'Required JWT issuer (iss) for WebSocket clients.'),
  setting(
    'ws.jwt.audience',
    'WS_JWT_AUDIENCE',
    text(),
    undefined,
    'Required JWT audience (aud) for WebSocket clients.',
  ),
  setting(
    'ws.aclFile',
    'WS_ACL_FILE',
    text(),
    undefined,
    'ACL file (libs/auth syntax) for WebSocket clients whose token carries no permissions claim; unset = allowed everything.',
  ),
  setting(
    'ws.allowedOrigins',
    'WS_ALLOWED_ORIGINS',
    text(/^[^\s,]+(,[^\s,]+)*$/, 'origins separated by commas, such as https://app.example.com'),
    undefined,
    'Origin header values allowed to open a WebSocket (comma-separated); unset = any.',
  ),
  setting(
    'ws.authTimeout',
    'WS_AUTH_TIMEOUT',
    duration(100, 600_000),
    DEFAULT_WS_AUTH_TIMEOUT_MS,
    'Time a WebSocket client without a token in the handshake has to send connect with one.',
  ),
  setting(
    'ws.publishRate',
    'WS_PUBLISH_RATE',
    integer(0, 10_000_000),
    DEFAULT_WS_PUBLISH_RATE,
    'Publishes per second per WebSocket connection (token bucket rate; 0 = unlimited).',
  ),
  setting(
    'ws.publishBurst',
    'WS_PUBLISH_BURST',
    integer(1, 10_000_000),
    DEFAULT_WS_PUBLISH_BURST,
    'Publishes one WebSocket connection may make in a burst (token bucket size).',
  ),
  setting(
    'ws.pingInterval',
    'WS_PING_INTERVAL',
    duration(100, 3_600_000),
    DEFAULT_WS_PING_INTERVAL_MS,
    'Time between server pings (RFC 6455 §5.5.2) to a WebSocket client that is quiet.',
  ),
  setting(
    'ws.idleTimeout',
    'WS_IDLE_TIMEOUT',
    duration(0, 86_400_000),
    DEFAULT_WS_IDLE_TIMEOUT_MS,
    'Close (4408) a WebSocket client that sent nothing, not even a pong, for this long (0 = never).',
  ),
  setting(
    'ws.compression',
    'WS_COMPRESSION',
    boolean,
    false,
    'Offer permessage-deflate (RFC 7692); decompressed messages are capped at WS_MAX_FRAME_SIZE.',
  ),
  setting(
    'ws.ackWait',
    'WS_ACK_WAIT',
    duration(100, 3_600_000),
    DEFAULT_WS_ACK_WAIT_MS,
    'Redeliver an unacknowledged message of an acked subscription after this long.',
  ),
  setting(
    'ws.ackMaxInFlight',
    'WS_ACK_MAX_IN_FLIGHT',
    integer(1, 10_000),
    DEFAULT_WS_ACK_MAX_IN_FLIGHT,
    'Most unacknowledged messages in flight per acked subscription (a client may ask for fewer).',
  ),
  setting(
    'ws.apiKeys',
    'WS_API_KEYS',
    text(/^[^\s,]+(,[^\s,]+)*$/, 'API keys separated by commas'),
    undefined,
    'API keys accepted by POST /api/v1/publish (comma-separated); the API is off without keys.',
  ),
  setting(
    'ws.apiKeysFile',
    'WS_API_KEYS_FILE',
    text(),
    undefined,
    'File of API keys for POST /api/v1/publish, one per line (# comments), added to WS_API_KEYS.',
  ),
  setting('ws.demoPage', 'WS_DEMO_PAGE', boolean, true, 'Serve the live demo page at / on the WebSocket port.'),
] as const;

/** `config.ws`: ws-edge settings. */
export interface WsConfig {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly adminPort: number;
  /** Bytes. */
  readonly maxFrameSize: number;
  /** Bytes. */
  readonly maxBuffered: number;
  readonly maxSubscriptions: number;
  /** Undefined = true in embedded mode only (no NATS_URL). */
  readonly allowAnonymous: boolean | undefined;
  readonly jwt: {
    readonly secret: string | undefined;
    readonly publicKeyFile: string | undefined;
    readonly jwksUrl: string | undefined;
    readonly issuer: string | undefined;
    readonly audience: string | undefined;
  };
  readonly aclFile: string | undefined;
  /** Comma-separated; undefined = any origin. */
  readonly allowedOrigins: string | undefined;
  /** Milliseconds. */
  readonly authTimeout: number;
  /** Publishes per second per connection; 0 = unlimited. */
  readonly publishRate: number;
  /** Token bucket size. */
  readonly publishBurst: number;
  /** Milliseconds. */
  readonly pingInterval: number;
  /** Milliseconds; 0 = never. */
  readonly idleTimeout: number;
  readonly compression: boolean;
  /** Milliseconds. */
  readonly ackWait: number;
  readonly ackMaxInFlight: number;
  readonly apiKeys: string | undefined;
  readonly apiKeysFile: string | undefined;
  readonly demoPage: boolean;
}
