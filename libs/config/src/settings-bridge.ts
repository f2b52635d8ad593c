import { integer, port } from './parse.js';
import { setting } from './setting.js';

/** Admin port of the bridge. */
export const DEFAULT_BRIDGE_ADMIN_PORT = 9103;

/** bridge settings. */
export const BRIDGE_SETTINGS = [
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

/** `config.bridge`: bridge settings. */
export interface BridgeConfig {
  readonly adminPort: number;
  /** QoS 1 messages in flight per direction. */
  readonly maxInFlight: number;
}
