// The Grafana dashboard (deploy/grafana/protomesh.json, issue 6) queries only metrics the
// services export. deploy/grafana/metrics.json is the one list of those names: a service that
// adds or renames a metric updates it, and this test then tells which panels to change.
// Each listed instrument must still be created in the sources of libs/ or services/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Metric {
  readonly name: string;
  readonly instrument: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly labels: readonly string[];
}
const catalogue = JSON.parse(readFileSync(join(root, 'deploy', 'grafana', 'metrics.json'), 'utf8')) as {
  targetLabels: string[];
  metrics: Metric[];
};
const METRICS = new Map(catalogue.metrics.map((m) => [m.name, m]));

interface Target {
  readonly expr?: string;
  readonly datasource?: { uid?: string };
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos?: { h: number; w: number; x: number; y: number };
  readonly targets?: Target[];
  readonly panels?: Panel[];
  readonly datasource?: { uid?: string };
}
const dashboard = JSON.parse(readFileSync(join(root, 'deploy', 'grafana', 'protomesh.json'), 'utf8')) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
};

const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queries: { panel: string; expr: string }[] = [
  ...panels.flatMap((p) => (p.targets ?? []).filter((t) => t.expr).map((t) => ({ panel: p.title, expr: t.expr! }))),
  ...dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => ({ panel: `variable ${v.name}`, expr: typeof v.query === 'string' ? v.query : v.query!.query })),
];

/** Panels pick their Prometheus data source through the dashboard's `datasource` variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template literal.
const DATASOURCE_VARIABLE = '${datasource}';

/** A histogram is queried through its `_bucket`, `_sum` and `_count` series. */
const HISTOGRAM_SERIES = /_(bucket|sum|count)$/;

/** The catalogue name a series belongs to (`x_bucket` → `x` when `x` is a histogram). */
function catalogueName(series: string): string {
  const base = series.replace(HISTOGRAM_SERIES, '');
  return base !== series && METRICS.get(base)?.type === 'histogram' ? base : series;
}

const seriesNames = (expr: string) => [...new Set(expr.match(/\bprotomesh_[a-z_]+/g) ?? [])];
const metricNames = (expr: string) => [...new Set(seriesNames(expr).map(catalogueName))];

describe('deploy/grafana/metrics.json', () => {
  it('lists each metric once, with its type and labels', () => {
    expect(METRICS.size).toBe(catalogue.metrics.length);
    for (const m of catalogue.metrics) {
      // Our own metrics, or OpenTelemetry messaging-convention ones (dots become underscores).
      expect(m.name).toMatch(/^(protomesh|messaging)_[a-z_]+$/);
      // Prometheus counters carry _total; the OpenTelemetry instrument does not.
      const exported = m.instrument.replaceAll('.', '_');
      expect(m.name).toBe(m.type === 'counter' ? `${exported}_total` : exported);
    }
  });

  it('names only instruments a service or library still creates', () => {
    const sources = [...tsFiles(join(root, 'libs')), ...tsFiles(join(root, 'services'))]
      .filter((file) => /[/\\]src[/\\]/.test(file))
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n');
    const missing = catalogue.metrics
      .filter((metric) => !new RegExp(`['"\`]${metric.instrument}['"\`]`).test(sources))
      .map((metric) => metric.instrument);
    expect(missing, 'instruments no source in libs/*/src or services/*/src creates any more').toEqual([]);
  });
});

describe('deploy/grafana/protomesh.json', () => {
  it('queries only metrics listed in deploy/grafana/metrics.json', () => {
    expect(queries.length).toBeGreaterThan(10);
    for (const { panel, expr } of queries) {
      for (const name of metricNames(expr)) {
        expect(METRICS.has(name), `panel "${panel}" queries ${name}, which no service exports`).toBe(true);
      }
    }
  });

  it('groups and filters only by labels those metrics carry', () => {
    for (const { panel, expr } of queries) {
      const names = metricNames(expr);
      if (names.length === 0) continue;
      const allowed = new Set([...catalogue.targetLabels, ...names.flatMap((n) => METRICS.get(n)?.labels ?? [])]);
      // Histogram buckets carry `le`, the bucket's upper bound.
      if (names.some((n) => METRICS.get(n)?.type === 'histogram')) allowed.add('le');
      const used = [
        ...[...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1].split(',')),
        ...[...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) =>
          [...m[1].matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]),
        ),
        ...[...expr.matchAll(/label_values\([^,]+,\s*(\w+)\)/g)].map((m) => m[1]),
      ]
        .map((label) => label.trim())
        .filter(Boolean);
      for (const label of used) expect(allowed.has(label), `panel "${panel}" uses label ${label}: ${expr}`).toBe(true);
    }
  });

  it('takes rates only of counters and of histogram series', () => {
    for (const { panel, expr } of queries) {
      for (const m of expr.matchAll(/\b(?:rate|irate|increase)\(\s*(protomesh_[a-z_]+)/g)) {
        const name = catalogueName(m[1]);
        const expected = name === m[1] ? 'counter' : 'histogram';
        expect(METRICS.get(name)?.type, `panel "${panel}": rate of ${m[1]}`).toBe(expected);
      }
    }
  });

  it('takes quantiles only of histogram buckets, grouped by le', () => {
    for (const { panel, expr } of queries) {
      if (!expr.includes('histogram_quantile')) continue;
      expect(expr, `panel "${panel}"`).toMatch(/histogram_quantile\(0?\.\d+, sum by \((le|[^)]*\ble\b[^)]*)\)/);
      for (const series of seriesNames(expr)) expect(series, `panel "${panel}"`).toMatch(/_bucket$/);
    }
  });

  it('has balanced brackets in every query', () => {
    for (const { panel, expr } of queries) {
      for (const [open, close] of ['()', '{}', '[]']) {
        expect(expr.split(open).length, `panel "${panel}": ${expr}`).toBe(expr.split(close).length);
      }
    }
  });

  it('has the sections the issue asks for, with unique panel ids and a data source variable', () => {
    const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).toEqual([
      'Overview',
      'Connections',
      'Throughput per tier',
      'Latency',
      'Bridge',
      'Errors',
      'Backbone (NATS)',
    ]);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    for (const panel of panels) {
      expect(panel.gridPos, panel.title).toBeDefined();
      for (const target of panel.targets ?? []) expect(target.datasource?.uid).toBe(DATASOURCE_VARIABLE);
    }
  });

  it('shows publish-to-delivery latency quantiles from the exported histogram', () => {
    const latency = panels.filter((p) => /latency/i.test(p.title) && p.type !== 'row');
    expect(latency.length).toBeGreaterThan(0);
    const exprs = latency.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
    expect(METRICS.get('protomesh_delivery_latency_seconds')?.type).toBe('histogram');
    expect(exprs.some((e) => /histogram_quantile\(0\.99, .*protomesh_delivery_latency_seconds_bucket/.test(e))).toBe(
      true,
    );
  });
});

function tsFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) tsFiles(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}
