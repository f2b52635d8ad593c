import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { waitFor } from '@protomesh/test-support';
import { describe, expect, it } from 'vitest';
import { type Cluster, type Replica, withTwoReplicas } from '../helpers/cluster.js';

const run = promisify(execFile);

let cluster: Cluster;
let a: Replica;
let b: Replica;

withTwoReplicas((started, first, second) => {
  cluster = started;
  a = first;
  b = second;
});

describe('retained messages in JetStream, two replicas', () => {
  it('[MQTT-3.3.1-5] a message retained through one replica reaches new subscribers on the other (MQTT.js v5 → v4 and v5)', async () => {
    const pub = await cluster.client(a.url, { protocolVersion: 5 });
    await pub.publishAsync('plant/1/state', 'running', { qos: 1, retain: true });
    for (const protocolVersion of [4, 5] as const) {
      const sub = await cluster.client(b.url, { protocolVersion });
      const got: Array<{ topic: string; payload: string; retain: boolean }> = [];
      sub.on('message', (topic, payload, packet) =>
        got.push({ topic, payload: payload.toString(), retain: packet.retain }),
      );
      await sub.subscribeAsync('plant/+/state', { qos: 1 });
      await waitFor(() => got.length === 1, 'the retained message');
      expect(got).toEqual([{ topic: 'plant/1/state', payload: 'running', retain: true }]);
    }
  });

  it('[MQTT-3.3.1-6] an empty retained publish on one replica clears the message for both', async () => {
    const pub = await cluster.client(b.url, { protocolVersion: 4 });
    await pub.publishAsync('plant/2/state', 'idle', { qos: 1, retain: true });
    await pub.publishAsync('plant/2/state', '', { qos: 1, retain: true });
    await pub.publishAsync('plant/3/state', 'marker', { qos: 1, retain: true });
    for (const replica of [a, b]) {
      const sub = await cluster.client(replica.url, { protocolVersion: 5 });
      const topics: string[] = [];
      sub.on('message', (topic) => topics.push(topic));
      await sub.subscribeAsync(['plant/2/state', 'plant/3/state'], { qos: 0 });
      await waitFor(() => topics.includes('plant/3/state'), 'the marker');
      expect(topics).toEqual(['plant/3/state']);
    }
  });

  it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] honours Retain Handling across replicas (MQTT.js v5)', async () => {
    const pub = await cluster.client(a.url, { protocolVersion: 5 });
    await pub.publishAsync('rh/item', 'x', { qos: 1, retain: true });
    await pub.publishAsync('rh-probe', 'p', { qos: 1, retain: true });
    const sub = await cluster.client(b.url, { protocolVersion: 5 });
    const topics: string[] = [];
    sub.on('message', (topic) => topics.push(topic));
    await sub.subscribeAsync('rh/#', { qos: 1, rh: 2 });
    await sub.subscribeAsync('rh/+', { qos: 1, rh: 1 });
    await sub.subscribeAsync('rh/+', { qos: 1, rh: 1 });
    await sub.subscribeAsync('rh-probe', { qos: 1, rh: 0 });
    await waitFor(() => topics.includes('rh-probe'), 'the probe');
    // rh/# (2) sent nothing; the first rh/+ (1, new) sent one; the repeated rh/+ (1, existing) none.
    expect(topics).toEqual(['rh/item', 'rh-probe']);
  });

  it('interoperates with mosquitto_pub -r and mosquitto_sub (3.1.1 and 5)', async () => {
    await run('/usr/bin/mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(a.port),
      '-t',
      'mosq/retained',
      '-m',
      'kept',
      '-r',
      '-q',
      '1',
    ]);
    for (const version of ['mqttv311', 'mqttv5']) {
      const { stdout } = await run('/usr/bin/mosquitto_sub', [
        '-h',
        '127.0.0.1',
        '-p',
        String(b.port),
        '-t',
        'mosq/#',
        '-C',
        '1',
        '-v',
        '-V',
        version,
        '-W',
        '10',
      ]);
      expect(stdout.trim()).toBe('mosq/retained kept');
    }
  });
});
