// docker-compose.yml (issue 6): valid against the Compose Specification (checked offline by
// ../shared/tools/compose-validate.mjs), every tier scalable with `--scale`, and the support
// files under deploy/compose/ consistent with it: the proxy and Prometheus find every replica
// through Docker's DNS on the ports the services really use, and the collector, Grafana and
// Jaeger are wired together.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const composeFile = join(root, 'docker-compose.yml');
const validator = join(root, '..', 'shared', 'tools', 'compose-validate.mjs');

/** Each tier: its client port (if any) and admin port, as the compose file sets them. */
const TIERS = {
  'mqtt-edge': { client: 'MQTT_PORT', admin: 'MQTT_ADMIN_PORT' },
  'ws-edge': { client: 'WS_PORT', admin: 'WS_ADMIN_PORT' },
  bridge: { client: undefined, admin: 'BRIDGE_ADMIN_PORT' },
} as const;

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  container_name?: string;
  ports?: string[];
  expose?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(readFileSync(composeFile, 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;

function validate(file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [validator, file], { cwd: root }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification', async () => {
    const { code, output } = await validate(composeFile);
    expect(code, output).toBe(0);
  });

  it('the validator rejects a broken file (so the check above means something)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'protomesh-compose-'));
    try {
      const broken = join(dir, 'docker-compose.yml');
      const text = readFileSync(composeFile, 'utf8').replace('condition: service_healthy', 'condition: healthy-ish');
      writeFileSync(broken, text);
      const { code, output } = await validate(broken);
      expect(code).toBe(1);
      expect(output).toMatch(/condition/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs NATS 2.10 with JetStream on a volume, the three tiers, a collector, Jaeger, Prometheus and Grafana', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'bridge',
        'edge-proxy',
        'grafana',
        'jaeger',
        'mqtt-edge',
        'nats',
        'otel-collector',
        'prometheus',
        'ws-edge',
      ].sort(),
    );
    const nats = services.nats;
    expect(nats.image).toMatch(/^nats:2\.10(-alpine)?$/);
    expect(nats.command).toEqual(expect.arrayContaining(['-js', '-sd', '/data']));
    expect(nats.volumes).toContain('nats-data:/data');
    expect(compose.volumes).toHaveProperty('nats-data');
    expect(services['otel-collector'].image).toMatch(/^otel\/opentelemetry-collector-contrib:/);
    expect(services.jaeger.image).toMatch(/^jaegertracing\/all-in-one:/);
  });

  for (const [tier, ports] of Object.entries(TIERS)) {
    it(`${tier}: built from the Dockerfile, picks its service by command, on NATS, scalable`, () => {
      const service = services[tier];
      expect(service.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
      expect(service.command).toEqual([tier]);
      expect(service.environment?.NATS_URL).toBe('nats://nats:4222');
      // `docker compose up --scale <tier>=N`: a fixed container name or a fixed host port would
      // make the second replica fail to start.
      expect(service.container_name).toBeUndefined();
      expect(service.ports).toBeUndefined();
      for (const variable of [ports.client, ports.admin]) {
        if (variable) expect(service.expose).toContain(service.environment?.[variable]);
      }
      expect(service.depends_on?.nats).toEqual({ condition: 'service_healthy' });
    });
  }

  it('publishes MQTT and WebSocket through one proxy that balances over every edge replica', () => {
    const proxy = services['edge-proxy'];
    expect(proxy.ports).toEqual(
      expect.arrayContaining([expect.stringMatching(/:1883$/), expect.stringMatching(/:8080$/)]),
    );
    const cfg = readFileSync(join(root, 'deploy', 'compose', 'haproxy.cfg'), 'utf8');
    expect(cfg).toMatch(/nameserver \w+ 127\.0\.0\.11:53/);
    expect(cfg).toMatch(/bind :1883/);
    expect(cfg).toMatch(/bind :8080/);
    for (const tier of ['mqtt-edge', 'ws-edge'] as const) {
      const env = services[tier].environment!;
      const client = env[TIERS[tier].client];
      const admin = env[TIERS[tier].admin];
      // One server slot per possible replica, resolved through Docker's DNS, health-checked on /readyz.
      expect(cfg).toMatch(new RegExp(`server-template \\S+ \\d+ ${tier}:${client} check port ${admin}`));
    }
    expect(cfg.match(/http-check send meth GET uri \/readyz/g)).toHaveLength(2);
  });

  it('Prometheus discovers every replica of every tier through Docker DNS on its admin port', () => {
    const prometheus = parse(readFileSync(join(root, 'deploy', 'compose', 'prometheus.yml'), 'utf8'));
    const job = prometheus.scrape_configs.find((c: { job_name: string }) => c.job_name === 'protomesh');
    const discovered = Object.fromEntries(
      job.dns_sd_configs.map((sd: { names: string[]; type: string; port: number }) => [
        sd.names[0],
        [sd.type, sd.port],
      ]),
    );
    for (const [tier, ports] of Object.entries(TIERS)) {
      expect(discovered[tier]).toEqual(['A', Number(services[tier].environment![ports.admin])]);
    }
    // The dashboard filters on `service`; it must come from the discovered name.
    expect(job.relabel_configs).toContainEqual({ source_labels: ['__meta_dns_name'], target_label: 'service' });
  });

  it('the collector sends traces to Jaeger over OTLP and every pipeline uses defined components', () => {
    const otel = parse(readFileSync(join(root, 'deploy', 'compose', 'otel-collector.yaml'), 'utf8'));
    for (const pipeline of Object.values(otel.service.pipelines) as Record<string, string[]>[]) {
      for (const receiver of pipeline.receivers) expect(otel.receivers).toHaveProperty([receiver]);
      for (const processor of pipeline.processors ?? []) expect(otel.processors).toHaveProperty([processor]);
      for (const exporter of pipeline.exporters) expect(otel.exporters).toHaveProperty([exporter]);
    }
    const traceExporters = otel.service.pipelines.traces.exporters as string[];
    expect(traceExporters.map((e) => otel.exporters[e].endpoint)).toContain('jaeger:4317');
    expect(services.jaeger.environment?.COLLECTOR_OTLP_ENABLED).toBe('true');
    const endpoint = new URL(services.bridge.environment!.OTEL_EXPORTER_OTLP_ENDPOINT);
    expect(endpoint.hostname).toBe('otel-collector');
    expect(otel.receivers.otlp.protocols.http.endpoint).toMatch(new RegExp(`:${endpoint.port}$`));
  });

  it('Grafana gets the Prometheus data source and the dashboard file provisioned', () => {
    const grafana = services.grafana;
    const mounts = new Map(grafana.volumes!.map((v) => v.split(':').slice(0, 2) as [string, string]));
    expect(mounts.get('./deploy/grafana/protomesh.json')).toBeDefined();
    const provisioning = join(root, 'deploy', 'compose', 'grafana', 'provisioning');
    expect(mounts.get('./deploy/compose/grafana/provisioning')).toBe('/etc/grafana/provisioning');
    const datasources = parse(readFileSync(join(provisioning, 'datasources', 'datasources.yaml'), 'utf8'));
    expect(datasources.datasources).toContainEqual(
      expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090' }),
    );
    const dashboards = parse(readFileSync(join(provisioning, 'dashboards', 'protomesh.yaml'), 'utf8'));
    const dashboardTarget = mounts.get('./deploy/grafana/protomesh.json')!;
    expect(dashboardTarget.startsWith(`${dashboards.providers[0].options.path}/`)).toBe(true);
  });

  it('every bind-mounted file exists, and every service_healthy dependency has a health check', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0];
        if (source.startsWith('.')) expect(existsSync(join(root, source)), `${name}: ${source}`).toBe(true);
      }
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services, `${name} depends on ${dependency}`).toHaveProperty([dependency]);
        if (condition !== 'service_healthy') continue;
        // Services built from the Dockerfile inherit its HEALTHCHECK.
        const target = services[dependency];
        expect(
          target.healthcheck !== undefined || target.build !== undefined,
          `${dependency} has no health check`,
        ).toBe(true);
      }
    }
  });
});
