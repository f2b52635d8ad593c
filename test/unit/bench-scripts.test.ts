import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Benchmarks are measured by scripts that print tables, never by timed assertions. This only
// checks that every `bench:*` script exists and parses, so a refactor cannot silently break one.
const root = fileURLToPath(new URL('../..', import.meta.url));
const scripts = (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> })
  .scripts;
const benches = Object.entries(scripts).filter(([name]) => name.startsWith('bench:'));

describe('benchmark scripts', () => {
  it('exist for MQTT, WebSocket, the bridge and telemetry', () => {
    expect(benches.map(([name]) => name).sort()).toEqual(['bench:bridge', 'bench:mqtt', 'bench:telemetry', 'bench:ws']);
  });

  it.each(benches)('%s runs a script that exists and parses', (_name, command) => {
    const file = /node (bench\/\S+\.mjs)/.exec(command)?.[1];
    expect(file).toBeDefined();
    expect(existsSync(`${root}${file}`)).toBe(true);
    execFileSync(process.execPath, ['--check', `${root}${file}`]);
  });
});
