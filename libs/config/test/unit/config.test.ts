import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_ERRORS, ConfigInvalidError, loadConfig, SETTINGS, settingsTable } from '@protomesh/config';
import { describe, expect, it } from 'vitest';

function yamlFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'pm-config-')), 'protomesh.yaml');
  writeFileSync(file, text);
  return file;
}

describe('loadConfig', () => {
  it('gives documented defaults with an empty environment: embedded backbone, 1883, 8080', () => {
    const config = loadConfig({ env: {} });
    expect(config.nats.url).toBeUndefined();
    expect(config.mqtt.port).toBe(1883);
    expect(config.ws.port).toBe(8080);
    expect(config.prefix).toBe('mesh');
    expect(config.ws.maxFrameSize).toBe(64 * 1024);
    expect(new Set([config.mqtt.adminPort, config.ws.adminPort, config.bridge.adminPort]).size).toBe(3);
  });

  it('reads environment variables with units', () => {
    const config = loadConfig({
      env: { NATS_URL: 'nats://127.0.0.1:4222', MQTT_PORT: '1884', STREAM_MAX_AGE: '2h', WS_MAX_FRAME_SIZE: '128KiB' },
    });
    expect(config.nats.url).toBe('nats://127.0.0.1:4222');
    expect(config.mqtt.port).toBe(1884);
    expect(config.jetstream.maxAge).toBe(7_200_000);
    expect(config.ws.maxFrameSize).toBe(131_072);
  });

  it('is frozen all the way down', () => {
    const config = loadConfig({ env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.mqtt)).toBe(true);
    expect(() => {
      (config.mqtt as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('names the field, the variable and what was expected, for every problem at once', () => {
    let error: unknown;
    try {
      loadConfig({ env: { MQTT_PORT: 'abc', WS_PORT: '70000', LOG_LEVEL: 'loud' } });
    } catch (e) {
      error = e;
    }
    expect(ConfigInvalidError.is(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('mqtt.port (MQTT_PORT): expected an integer from 0 to 65535, got "abc"');
    expect(message).toContain('ws.port (WS_PORT)');
    expect(message).toContain('logLevel (LOG_LEVEL): expected one of fatal, error, warn, info');
    expect((error as { code: string }).code).toBe('PM_CONFIG_INVALID');
  });

  it('reads a YAML file, lets the environment override it, and rejects unknown keys', () => {
    const file = yamlFile('mqtt:\n  port: 2883\n  maxPacketSize: 2MiB\nws:\n  port: 9090\n');
    const config = loadConfig({ env: { PROTOMESH_CONFIG: file, WS_PORT: '9191' } });
    expect(config.mqtt.port).toBe(2883);
    expect(config.mqtt.maxPacketSize).toBe(2 * 1024 * 1024);
    expect(config.ws.port).toBe(9191);
    const bad = yamlFile('mqtt:\n  prot: 2883\n');
    expect(() => loadConfig({ env: { PROTOMESH_CONFIG: bad } })).toThrow(/mqtt\.prot \(in .*\): unknown setting/);
  });

  it('reports a YAML value of the wrong type with its path and the file', () => {
    const file = yamlFile('ws:\n  port: [1, 2]\n');
    expect(() => loadConfig({ env: { PROTOMESH_CONFIG: file } })).toThrow(
      /ws\.port \(WS_PORT, in .*\): expected an integer/,
    );
  });

  it('rejects a malformed NATS URL', () => {
    expect(() => loadConfig({ env: { NATS_URL: 'http://x y' } })).toThrow(/nats\.url \(NATS_URL\)/);
  });

  it('documents every setting and every error code', () => {
    for (const s of SETTINGS) expect(s.description.length).toBeGreaterThan(5);
    const codes = CONFIG_ERRORS.map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const e of CONFIG_ERRORS) expect(e.description.length).toBeGreaterThan(10);
  });
});

describe('settingsTable', () => {
  it('shows defaults with units and one row per setting', () => {
    const table = settingsTable(SETTINGS);
    expect(table.split('\n')).toHaveLength(SETTINGS.length + 2);
    expect(table).toContain('| `STREAM_MAX_AGE` | `jetstream.maxAge` | `24h` |');
    expect(table).toContain('| `WS_MAX_FRAME_SIZE` | `ws.maxFrameSize` | `64KiB` |');
    expect(table).toContain('| `NATS_URL` | `nats.url` | — |');
  });
});
