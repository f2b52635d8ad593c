import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Backbone } from '@protomesh/backbone';
import { loadConfig } from '@protomesh/config';
import { type RunningMesh, type ServiceEntry, startServices } from '@protomesh/runtime';
import { createLogger } from '@protomesh/telemetry';

export interface InProcessOptions {
  /** Mesh prefix; use `uniqueName()` so streams and subjects are this test's own. */
  readonly prefix: string;
  /** Real NATS: each started instance opens its own connection, like a separate replica. */
  readonly natsUrl?: string;
  /** Embedded mode: the shared in-process backbone (services of one mesh must share it). */
  readonly backbone?: Backbone;
  /** Send spans here (an `InMemorySpanExporter`), which turns tracing on. */
  readonly spanExporter?: SpanExporter;
  /** Extra environment settings (ports default to 0, hosts to 127.0.0.1). */
  readonly env?: Readonly<Record<string, string>>;
  /** Write the JSON log lines here (at `LOG_LEVEL`, default `TEST_LOG_LEVEL` or silent). */
  readonly logDestination?: NodeJS.WritableStream;
}

/**
 * Starts services in this process on port 0 and loopback, exactly as `main` would
 * (configuration from environment settings, backbone, provisioning, admin server).
 * Logs are silent unless `TEST_LOG_LEVEL` is set.
 */
export async function startInProcess(
  entries: ServiceEntry | readonly ServiceEntry[],
  options: InProcessOptions,
): Promise<RunningMesh> {
  const list = Array.isArray(entries) ? (entries as readonly ServiceEntry[]) : [entries as ServiceEntry];
  const env: Record<string, string> = {
    MESH_PREFIX: options.prefix,
    MQTT_HOST: '127.0.0.1',
    WS_HOST: '127.0.0.1',
    ADMIN_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    WS_PORT: '0',
    MQTT_ADMIN_PORT: '0',
    WS_ADMIN_PORT: '0',
    BRIDGE_ADMIN_PORT: '0',
    SHUTDOWN_GRACE: '2s',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...(options.natsUrl ? { NATS_URL: options.natsUrl } : {}),
    ...options.env,
  };
  const config = loadConfig({ env, file: '' });
  const logger = createLogger({ level: config.logLevel, destination: options.logDestination });
  return startServices(list, { config, logger, backbone: options.backbone, spanExporter: options.spanExporter });
}
