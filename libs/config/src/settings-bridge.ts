import { integer, port, text } from './parse.js';
import { setting } from './setting.js';

/** Admin port of the bridge. */
export const DEFAULT_BRIDGE_ADMIN_PORT = 9103;
/** QoS 1 partitions per bridge route: the most replicas that share one route's QoS 1 work. */
export const DEFAULT_BRIDGE_PARTITIONS = 12;

/** bridge settings. */
export const BRIDGE_SETTINGS = [
  setting(
    'bridge.adminPort',
    'BRIDGE_ADMIN_PORT',
    port,
    DEFAULT_BRIDGE_ADMIN_PORT,
    'bridge admin port (/healthz, /readyz, /metrics, /routes).',
  ),
  setting(
    'bridge.maxInFlight',
    'BRIDGE_MAX_IN_FLIGHT',
    integer(1, 100_000),
    1_000,
    'QoS 1 messages a bridge replica has in flight per route.',
  ),
  setting(
    'bridge.routes',
    'BRIDGE_ROUTES',
    text(),
    undefined,
    'Routes file (YAML) or directory of them (a ConfigMap mount), reloaded on change; unset: identity routes both ways.',
  ),
  setting(
    'bridge.partitions',
    'BRIDGE_PARTITIONS',
    integer(1, 1_024),
    DEFAULT_BRIDGE_PARTITIONS,
    'QoS 1 partitions per route, balanced across bridge replicas (change only with every replica stopped).',
  ),
  setting(
    'bridge.maxHops',
    'BRIDGE_MAX_HOPS',
    integer(1, 16),
    1,
    'Bridge routes one message may cross; above 1 routes chain and a route cycle is rejected.',
  ),
] as const;

/** `config.bridge`: bridge settings. */
export interface BridgeConfig {
  readonly adminPort: number;
  /** QoS 1 messages in flight per route. */
  readonly maxInFlight: number;
  /** Routes file or directory; undefined = identity routes. */
  readonly routes: string | undefined;
  /** QoS 1 partitions per route. */
  readonly partitions: number;
  /** Most bridge crossings per message. */
  readonly maxHops: number;
}
