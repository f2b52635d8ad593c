import { readFileSync } from 'node:fs';
import { SETTINGS, settingsTable } from '@protomesh/config';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('carries the configuration reference of every setting, up to date (npm run docs:config)', () => {
    expect(readme).toContain(settingsTable(SETTINGS));
    for (const s of SETTINGS) expect(readme).toContain(`| \`${s.env}\` | \`${s.path}\` |`);
  });

  it('keeps the two commands and the architecture diagram', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm test');
    expect(readme).toContain('```mermaid');
  });
});

describe('README Operate section', () => {
  const operate = readme.slice(readme.indexOf('## Operate'), readme.indexOf('\n## ', readme.indexOf('## Operate') + 3));

  it('tells how to deploy with Helm, scale each tier, read the dashboard and follow a trace', () => {
    expect(operate).toContain('helm install');
    expect(operate).toMatch(/--scale mqtt-edge=\d+ --scale ws-edge=\d+ --scale bridge=\d+/);
    expect(operate).toContain('autoscaling');
    expect(operate).toContain('deploy/grafana/protomesh.json');
    expect(operate).toContain('OTEL_EXPORTER_OTLP_ENDPOINT');
    expect(operate).toContain('traceparent');
  });

  it('carries a benchmark table for MQTT, WebSocket and the bridge, each with its npm script', () => {
    for (const script of ['bench:mqtt', 'bench:ws', 'bench:bridge']) expect(readme).toContain(`npm run ${script}`);
  });
});
