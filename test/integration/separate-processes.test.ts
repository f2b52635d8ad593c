// Each service runs alone against NATS, as it does in production: three processes started
// with the launcher (`node bin/protomesh.mjs <service>`), sharing only the nats-server.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type NatsServerHandle, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestWsClient } from '../helpers/ws-client.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let nats: NatsServerHandle;
const children: ChildProcess[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await nats?.stop();
});

interface ServiceProcess {
  readonly child: ChildProcess;
  output: string;
  readonly exited: Promise<number | null>;
}

function launch(service: string, prefix: string): ServiceProcess {
  const child = spawn(process.execPath, ['bin/protomesh.mjs', service], {
    cwd: root,
    env: {
      ...process.env,
      NATS_URL: nats.url,
      MESH_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      MQTT_HOST: '127.0.0.1',
      WS_HOST: '127.0.0.1',
      ADMIN_HOST: '127.0.0.1',
      MQTT_PORT: '0',
      WS_PORT: '0',
      MQTT_ADMIN_PORT: '0',
      WS_ADMIN_PORT: '0',
      BRIDGE_ADMIN_PORT: '0',
      MQTT_ALLOW_ANONYMOUS: 'true',
      WS_ALLOW_ANONYMOUS: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const proc: ServiceProcess = {
    child,
    output: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  const collect = (chunk: Buffer) => {
    proc.output += chunk.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return proc;
}

it('runs mqtt-edge, ws-edge and bridge as separate processes on NATS', async () => {
  const prefix = uniqueName();
  const bridge = launch('bridge', prefix);
  const mqttEdge = launch('mqtt-edge', prefix);
  const wsEdge = launch('ws-edge', prefix);
  const all = [bridge, mqttEdge, wsEdge];
  await waitFor(() => all.every((p) => p.output.includes(`running on NATS ${nats.url}`)), 'three services up', 30_000);
  const mqttUrl = /mqtt-edge\s+mqtt\s+(mqtt:\/\/\S+)/.exec(mqttEdge.output)?.[1];
  const wsUrl = /ws-edge\s+ws\s+(ws:\/\/\S+)/.exec(wsEdge.output)?.[1];
  expect(mqttUrl).toBeDefined();
  expect(wsUrl).toBeDefined();
  expect(bridge.output).not.toMatch(/mqtt-edge|ws-edge/);

  const subscriber = await TestWsClient.connect(wsUrl!);
  await subscriber.subscribe('factory/+/state');
  const publisher = await mqtt.connectAsync(mqttUrl!, { protocolVersion: 4, reconnectPeriod: 0 });
  for (let n = 0; n < 50; n++) await publisher.publishAsync(`factory/press${n % 2}/state`, String(n), { qos: 1 });
  await waitFor(() => subscriber.messages.length >= 50, '50 deliveries across processes');
  expect(subscriber.messages.map((m) => Number(m.text))).toEqual(Array.from({ length: 50 }, (_, n) => n));
  await publisher.endAsync();
  await subscriber.close();

  for (const p of all) p.child.kill('SIGTERM');
  expect(await Promise.all(all.map((p) => p.exited))).toEqual([0, 0, 0]);
  for (const p of all) expect(p.output).toContain('protomesh: stopped');
});
