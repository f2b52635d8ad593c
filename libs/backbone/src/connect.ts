import type { Backbone } from './contract.js';
import { createEmbeddedBackbone } from './embedded/embedded-backbone.js';
import type { BackboneLogger } from './logger.js';
import { connectNats } from './nats/nats-backbone.js';

/** Options of {@link connectBackbone}, as services read them from their configuration. */
export interface ConnectBackboneOptions {
  /** `nats://host:port`, several separated by commas; embedded mode when unset or empty. */
  readonly natsUrl?: string;
  /** Connection name shown by the server. */
  readonly name?: string;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  readonly logger?: BackboneLogger;
  /** Replicas of streams and buckets (NATS only). */
  readonly replicas?: number;
}

/** The backbone a service runs on: NATS JetStream when `natsUrl` is set, else the in-process one. */
export async function connectBackbone(options: ConnectBackboneOptions = {}): Promise<Backbone> {
  const servers = (options.natsUrl ?? '')
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  if (servers.length === 0) {
    options.logger?.info({ backbone: 'embedded' }, 'using the in-process backbone');
    return createEmbeddedBackbone({ logger: options.logger });
  }
  const backbone = await connectNats({
    servers,
    name: options.name,
    user: options.user,
    pass: options.pass,
    token: options.token,
    logger: options.logger,
    replicas: options.replicas,
  });
  options.logger?.info({ backbone: 'nats', serverVersion: backbone.serverVersion }, 'connected to NATS');
  return backbone;
}
