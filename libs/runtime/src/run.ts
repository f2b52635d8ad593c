import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { type Backbone, connectBackbone, type MeshLayout, meshLayout, provisionMesh } from '@protomesh/backbone';
import { ConfigFileError, ConfigInvalidError, loadConfig, type MeshConfig } from '@protomesh/config';
import { MeshError } from '@protomesh/errors';
import { createLogger, createTracing, type Logger, PortInUseError, ServiceMetrics } from '@protomesh/telemetry';
import { meteredBackbone } from './metered-backbone.js';
import type { ServiceHandle, ServiceStarter } from './service.js';

/** One service to run in this process. */

/** Size limit of each tier stream on the embedded backbone when STREAM_MAX_BYTES is 0. */
export const EMBEDDED_STREAM_MAX_BYTES = 256 * 1024 * 1024;

/** The mesh layout for `config` on a backbone of `kind`. */
export function layoutFor(config: MeshConfig, kind: Backbone['kind']): MeshLayout {
  return meshLayout(config.prefix, {
    replicas: config.jetstream.replicas,
    streamMaxAgeMs: config.jetstream.maxAge,
    // The embedded backbone keeps streams in this process's heap: never unbounded there.
    streamMaxBytes: config.jetstream.maxBytes || (kind === 'embedded' ? EMBEDDED_STREAM_MAX_BYTES : undefined),
  });
}

export interface ServiceEntry {
  readonly name: string;
  readonly start: ServiceStarter;
}

/** A running process: its services, the shared backbone and a graceful stop. */
export interface RunningMesh {
  readonly config: MeshConfig;
  readonly backbone: Backbone;
  readonly layout: MeshLayout;
  readonly services: readonly ServiceHandle[];
  /** Closes every service (in reverse start order), then the backbone. Idempotent. */
  stop(): Promise<void>;
}

export interface StartServicesOptions {
  readonly config: MeshConfig;
  /** Process-wide logger; each service gets a child with its name. */
  readonly logger: Logger;
  /** Reuse a backbone (tests); otherwise connect one from the configuration. */
  readonly backbone?: Backbone;
  /** Send every service's spans here instead of OTLP (tests: an in-memory exporter). */
  readonly spanExporter?: SpanExporter;
}

/** Connects the backbone, provisions the mesh and starts each service on one shared backbone. */
export async function startServices(
  entries: readonly ServiceEntry[],
  options: StartServicesOptions,
): Promise<RunningMesh> {
  const { config, logger } = options;
  const backbone =
    options.backbone ??
    (await connectBackbone({
      natsUrl: config.nats.url,
      name: config.nats.name ?? `protomesh-${entries.map((e) => e.name).join('+')}`,
      user: config.nats.user,
      pass: config.nats.pass,
      token: config.nats.token,
      replicas: config.jetstream.replicas,
      logger,
    }));
  const layout = layoutFor(config, backbone.kind);
  const services: ServiceHandle[] = [];
  // Telemetry is per service instance, shut down after the service (which may flush spans).
  const telemetry: Array<{ metrics: ServiceMetrics; shutdown(): Promise<void> }> = [];
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      for (const service of [...services].reverse()) {
        try {
          await service.close();
        } catch (error) {
          logger.error({ err: error, service: service.name }, 'service did not close cleanly');
        }
      }
      for (const t of telemetry) await t.shutdown().catch(() => {});
      if (!options.backbone) await backbone.close();
    })();
    return stopped;
  };
  try {
    await provisionMesh(backbone, layout);
    for (const entry of entries) {
      // OTEL_SERVICE_NAME names a process that runs one service; with several, each keeps its own name.
      const settings = {
        ...config.telemetry,
        serviceName: entries.length === 1 ? config.telemetry.serviceName : undefined,
      };
      const metrics = new ServiceMetrics(entry.name, settings);
      const tracing = createTracing({ service: entry.name, ...settings, exporter: options.spanExporter });
      telemetry.push({
        metrics,
        shutdown: async () => void (await Promise.all([metrics.shutdown(), tracing.shutdown()])),
      });
      const deps = {
        config,
        backbone: meteredBackbone(backbone, metrics.meter),
        layout,
        logger: logger.child({ service: entry.name }),
        metrics,
        tracing,
      };
      services.push(await entry.start(deps));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { config, backbone, layout, services, stop };
}

/**
 * The `main` of a Protomesh process: reads the configuration, starts the services, prints
 * where to reach them, and on SIGTERM/SIGINT shuts down gracefully. Configuration and port
 * errors end the process with one clear line and exit code 1.
 */
export async function runMain(entries: readonly ServiceEntry[]): Promise<RunningMesh | undefined> {
  let config: MeshConfig;
  try {
    config = loadConfig();
  } catch (error) {
    return fatal(error);
  }
  // No `service` on the root: startServices gives each service a child logger carrying its name.
  const logger = createLogger({ level: config.logLevel });
  let mesh: RunningMesh;
  try {
    mesh = await startServices(entries, { config, logger });
  } catch (error) {
    return fatal(error, logger);
  }
  const backboneName = config.nats.url
    ? `NATS ${config.nats.url}`
    : 'embedded backbone (in-process; set NATS_URL to use NATS)';
  const lines = [`protomesh: ${entries.map((e) => e.name).join(', ')} running on ${backboneName}`];
  for (const service of mesh.services) {
    for (const [kind, address] of Object.entries(service.endpoints))
      lines.push(`  ${service.name.padEnd(10)} ${kind.padEnd(6)} ${address}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  logger.info({ endpoints: Object.fromEntries(mesh.services.map((s) => [s.name, s.endpoints])) }, 'started');

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ graceMs: config.shutdownGrace }, 'shutdown grace period over: exiting');
      process.exit(1);
    }, config.shutdownGrace + 5_000);
    timer.unref();
    mesh.stop().then(
      () => {
        logger.info('stopped');
        logger.flush?.();
        process.stdout.write('protomesh: stopped\n', () => process.exit(0));
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return mesh;
}

function fatal(error: unknown, logger?: Logger): undefined {
  const known = error instanceof MeshError;
  const line = known ? error.message : `unexpected error: ${(error as Error)?.stack ?? String(error)}`;
  if (logger && !(PortInUseError.is(error) || ConfigInvalidError.is(error) || ConfigFileError.is(error))) {
    logger.error({ err: error }, 'failed to start');
  }
  process.stderr.write(`protomesh: ${line}\n`);
  process.exitCode = 1;
  return undefined;
}
