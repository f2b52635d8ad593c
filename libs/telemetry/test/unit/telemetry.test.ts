import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import {
  createAdminServer,
  createLogger,
  listen,
  PortInUseError,
  ServiceMetrics,
  TELEMETRY_ERRORS,
} from '@protomesh/telemetry';
import { afterEach, describe, expect, it } from 'vitest';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function startAdmin(ready: () => boolean, metrics = new ServiceMetrics('test')) {
  const server = createAdminServer({ metrics, isReady: ready });
  const port = await listen(server, { host: '127.0.0.1', port: 0, setting: 'TEST_ADMIN_PORT' });
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return { base: `http://127.0.0.1:${port}`, metrics };
}

describe('admin server', () => {
  it('answers /healthz always and /readyz by readiness', async () => {
    let ready = false;
    const { base } = await startAdmin(() => ready);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    ready = true;
    const response = await fetch(`${base}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('serves connection and message counters in the Prometheus text format', async () => {
    const { base, metrics } = await startAdmin(() => true);
    metrics.instruments.connections.add(2, { tier: 'mqtt', protocol: 'mqtt', version: '5' });
    metrics.instruments.messagesIn.add(3, { tier: 'mqtt', qos: '1' });
    const response = await fetch(`${base}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toMatch(/protomesh_connections\{[^}]*tier="mqtt"[^}]*\} 2/);
    expect(text).toMatch(/protomesh_messages_in_total\{[^}]*qos="1"[^}]*\} 3/);
  });
});

describe('admin server extra routes', () => {
  it('asks the service routes first, any method, and falls through to the standard routes', async () => {
    const metrics = new ServiceMetrics('test');
    const server = createAdminServer({
      metrics,
      isReady: () => true,
      extraRoutes: (request, response) => {
        if (request.url !== '/extra') return false;
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: request.method }));
        return true;
      },
    });
    const port = await listen(server, { host: '127.0.0.1', port: 0, setting: 'TEST_ADMIN_PORT' });
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const base = `http://127.0.0.1:${port}`;
    expect(await (await fetch(`${base}/extra`, { method: 'POST' })).json()).toEqual({ method: 'POST' });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${base}/other`)).status).toBe(404);
  });
});

describe('listen', () => {
  it('turns a taken port into one line naming the setting to change', async () => {
    const blocker = createServer();
    const port = await listen(blocker, { host: '127.0.0.1', port: 0, setting: 'X' });
    closers.push(() => new Promise((resolve) => blocker.close(() => resolve())));
    const error = await listen(createServer(), { host: '127.0.0.1', port, setting: 'MQTT_PORT' }).catch(
      (e: unknown) => e,
    );
    expect(PortInUseError.is(error)).toBe(true);
    expect((error as Error).message).toBe(
      `port ${port} on 127.0.0.1 is already in use: set MQTT_PORT to a free port, e.g. MQTT_PORT=${port + 1}`,
    );
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('logger', () => {
  it('writes JSON lines carrying the service name', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    createLogger({ service: 'mqtt-edge', destination: sink }).info({ clientId: 'c1' }, 'client connected');
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ service: 'mqtt-edge', clientId: 'c1', msg: 'client connected', level: 30 });
  });

  it('documents every error code', () => {
    for (const e of TELEMETRY_ERRORS) expect(e.description.length).toBeGreaterThan(10);
  });
});
