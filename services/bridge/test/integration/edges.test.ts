// End to end through both edges: the launcher runs mqtt-edge, ws-edge and the bridge (built
// tree) on NATS with the example routes file; real MQTT and WebSocket clients.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type NatsServerHandle, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';

const root = fileURLToPath(new URL('../../../..', import.meta.url));
const routes = fileURLToPath(new URL('../../examples/routes.yaml', import.meta.url));
let nats: NatsServerHandle;
let child: ChildProcess;
let output = '';
let mqttUrl: string;
let wsUrl: string;

beforeAll(async () => {
  nats = await startNatsServer();
  child = spawn(process.execPath, ['bin/protomesh.mjs'], {
    cwd: root,
    env: {
      ...process.env,
      NATS_URL: nats.url,
      MESH_PREFIX: uniqueName(),
      LOG_LEVEL: 'warn',
      BRIDGE_ROUTES: routes,
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
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  await waitFor(() => /ws-edge\s+ws\s+ws:\/\/\S+/.test(output), 'the mesh up', 30_000);
  mqttUrl = /mqtt-edge\s+mqtt\s+(mqtt:\/\/\S+)/.exec(output)![1]!;
  wsUrl = /ws-edge\s+ws\s+(ws:\/\/\S+)/.exec(output)![1]!;
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  await nats?.stop();
});

interface Frame {
  op: string;
  id?: number;
  topic?: string;
  text?: string;
  retain?: boolean;
  contentType?: string;
}

async function wsClient(): Promise<{ frames: Frame[]; send: (f: object) => void; close: () => void }> {
  const socket = new WebSocket(wsUrl, 'protomesh.v1');
  const frames: Frame[] = [];
  socket.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  return { frames, send: (f) => socket.send(JSON.stringify(f)), close: () => socket.close() };
}

/** Subscribes a new WebSocket client with `retained: true`; the retained frames it got within 200 ms. */
async function retainedOnSubscribe(filter: string): Promise<Frame[]> {
  const client = await wsClient();
  try {
    client.send({ op: 'sub', id: 1, filter, retained: true });
    await new Promise((resolve) => setTimeout(resolve, 200));
    return client.frames.filter((f) => f.op === 'msg' && f.retain === true);
  } finally {
    client.close();
  }
}

it('a retained MQTT value crosses a hot-alarms route; a WebSocket client subscribing later gets it', async () => {
  const publisher = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5, reconnectPeriod: 0 });
  try {
    // The hot-alarms route: only celsius > 80, as text, retained in the WebSocket tier.
    await publisher.publishAsync('sensors/s9/temp', JSON.stringify({ celsius: 20 }), { qos: 1 });
    await publisher.publishAsync('sensors/s9/temp', JSON.stringify({ celsius: 95 }), { qos: 1 });
    const [alarm] = await waitFor(
      async () => {
        const got = await retainedOnSubscribe('alarms/+');
        return got.length > 0 ? got : undefined;
      },
      'the retained alarm',
      15_000,
    );
    expect(alarm).toMatchObject({ topic: 'alarms/s9', text: '{"celsius":95}', retain: true });
    expect(alarm!.contentType).toBe('text/plain; charset=utf-8');
  } finally {
    await publisher.endAsync();
  }
});

it('an MQTT retained publish keeps its retain flag across the route: a later WebSocket subscriber gets the last value', async () => {
  const publisher = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5, reconnectPeriod: 0 });
  try {
    await publisher.publishAsync('sensors/s5/temp', JSON.stringify({ celsius: 1 }), { qos: 1, retain: true });
    await publisher.publishAsync('sensors/s5/temp', JSON.stringify({ celsius: 2 }), { qos: 1, retain: true });
    await waitFor(
      async () => (await retainedOnSubscribe('devices/s5/temperature')).some((f) => f.text === '{"celsius":2}'),
      'the last retained value',
      15_000,
    );
  } finally {
    await publisher.endAsync();
  }
});

it('MQTT telemetry reaches a WebSocket subscriber under the templated topic, and commands come back', async () => {
  const app = await wsClient();
  const device = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5, reconnectPeriod: 0 });
  try {
    app.send({ op: 'sub', id: 1, filter: 'devices/+/temperature' });
    await waitFor(() => app.frames.some((f) => f.op === 'ok' && f.id === 1), 'the subscription');
    const commands: Array<{ topic: string; payload: string }> = [];
    device.on('message', (topic, payload) => commands.push({ topic, payload: payload.toString() }));
    await device.subscribeAsync('cmd/d1/#', { qos: 1 });
    for (let n = 0; n < 5; n++) {
      await device.publishAsync('sensors/d1/temp', JSON.stringify({ celsius: n }), { qos: 1 });
    }
    await waitFor(() => app.frames.filter((f) => f.op === 'msg').length >= 5, 'five readings', 15_000);
    const readings = app.frames.filter((f) => f.op === 'msg');
    expect(readings.map((f) => f.topic)).toEqual(Array(5).fill('devices/d1/temperature'));
    expect(readings.map((f) => JSON.parse(f.text!).celsius)).toEqual([0, 1, 2, 3, 4]);
    app.send({ op: 'pub', id: 2, topic: 'devices/d1/commands/reboot', qos: 1, text: 'now' });
    await waitFor(() => commands.length === 1, 'the command at the device', 15_000);
    expect(commands[0]).toEqual({ topic: 'cmd/d1/reboot', payload: 'now' });
  } finally {
    app.close();
    await device.endAsync();
  }
});
