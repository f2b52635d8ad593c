import { bytes, duration, integer, natsUrls, oneOf, text } from './parse.js';
import { host, setting } from './setting.js';

/** How long class-1 messages stay in the tier streams, in milliseconds (24 h). */
export const DEFAULT_STREAM_MAX_AGE_MS = 24 * 3_600_000;
/** How long a graceful shutdown may take before connections are cut, in milliseconds. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Settings every service shares: backbone, naming, logs, shutdown, admin address. */
export const CORE_SETTINGS = [
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
] as const;

/** The shared part of {@link MeshConfig}. */
export interface CoreConfig {
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
}
