import { boolean, bytes, integer, port, text } from './parse.js';
import { host, setting } from './setting.js';

/** Default WebSocket port. */
export const DEFAULT_WS_PORT = 8080;
/** Admin port of ws-edge. */
export const DEFAULT_WS_ADMIN_PORT = 9102;
/** Largest WebSocket frame accepted, in bytes (64 KiB, not the `ws` default of 100 MiB). */
export const DEFAULT_WS_MAX_FRAME_BYTES = 64 * 1024;

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
  setting('ws.allowAnonymous', 'WS_ALLOW_ANONYMOUS', boolean, true, 'Accept clients without credentials.'),
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
  readonly allowAnonymous: boolean;
}
