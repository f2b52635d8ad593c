import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { RunningMesh } from '@protomesh/runtime';
import { type NatsServerHandle, startInProcess, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMqttEdge } from '../../src/index.js';

/** With NATS_URL set, anonymous access is off unless enabled. */
const ANONYMOUS = { MQTT_ALLOW_ANONYMOUS: 'true' };

const run = promisify(execFile);
const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub';

let nats: NatsServerHandle;
let running: RunningMesh;
let port: number;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  nats = await startNatsServer();
  running = await startInProcess(
    { name: 'mqtt-edge', start: startMqttEdge },
    { prefix: uniqueName(), natsUrl: nats.url, env: ANONYMOUS },
  );
  port = running.services[0]!.ports.mqtt!;
});
afterAll(async () => {
  await running?.stop();
  await nats?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

/** Starts mosquitto_sub for `count` messages; resolves once it holds its subscription (SUBACK seen). */
async function mosquittoSub(topic: string, qos: 0 | 1, version: 'mqttv311' | 'mqttv5', count: number) {
  const args = [
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-t',
    topic,
    '-q',
    String(qos),
    '-V',
    version,
    '-C',
    String(count),
    '-v',
    '-d',
  ];
  // stdbuf: mosquitto_sub block-buffers a piped stdout, which would hide the SUBACK line.
  const child: ChildProcess = spawn('stdbuf', ['-oL', MOSQUITTO_SUB, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(async () => child.kill());
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  // 'close', not 'exit': the last output may still be in the pipe when the process exits.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await waitFor(() => out.includes('SUBACK'), 'mosquitto_sub to subscribe');
  return {
    /** The `topic payload` lines (debug lines filtered out), once the process exits. */
    async messages(): Promise<string[]> {
      expect(await exited).toBe(0);
      return out.split('\n').filter((line) => line.length > 0 && !/^(Client |Subscribed )/.test(line));
    },
  };
}

describe('mosquitto clients interoperate with mqtt-edge', () => {
  for (const version of ['mqttv311', 'mqttv5'] as const) {
    for (const qos of [0, 1] as const) {
      it(`mosquitto_pub → mosquitto_sub (-V ${version}, -q ${qos})`, async () => {
        const topic = `mosq/${version}/${qos}`;
        const sub = await mosquittoSub('mosq/+/#', qos, version, 2);
        for (const message of ['one', 'two']) {
          await run(MOSQUITTO_PUB, [
            '-h',
            '127.0.0.1',
            '-p',
            String(port),
            '-t',
            topic,
            '-m',
            message,
            '-q',
            String(qos),
            '-V',
            version,
          ]);
        }
        expect(await sub.messages()).toEqual([`${topic} one`, `${topic} two`]);
      });
    }
  }

  it('mosquitto_pub → MQTT.js and MQTT.js → mosquitto_sub', async () => {
    const js = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 5,
      clientId: uniqueName(),
      reconnectPeriod: 0,
    });
    cleanups.push(() => js.endAsync(true));
    const received: string[] = [];
    js.on('message', (topic, payload) => received.push(`${topic} ${payload.toString()}`));
    await js.subscribeAsync('from-mosquitto/#', { qos: 1 });
    await run(MOSQUITTO_PUB, [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-t',
      'from-mosquitto/a',
      '-m',
      'hello js',
      '-q',
      '1',
      '-V',
      'mqttv311',
    ]);
    await waitFor(() => received.length === 1, 'the mosquitto message');
    expect(received).toEqual(['from-mosquitto/a hello js']);

    const sub = await mosquittoSub('to-mosquitto/+', 1, 'mqttv5', 1);
    await js.publishAsync('to-mosquitto/b', 'hello mosquitto', { qos: 1 });
    expect(await sub.messages()).toEqual(['to-mosquitto/b hello mosquitto']);
  });
});
