import type { Backbone, DeliveredMessage, MeshLayout } from '@protomesh/backbone';
import { startBridge } from '@protomesh/bridge';
import { decodeMeta } from '@protomesh/envelope';
import type { RunningMesh } from '@protomesh/runtime';
import {
  type NatsServerHandle,
  sleep,
  startInProcess,
  startNatsServer,
  uniqueName,
  waitFor,
} from '@protomesh/test-support';
import { subjectToTopic, topicToSubject } from '@protomesh/topic-map';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const TOPICS = 20;
const MESSAGES = 2_000;

let nats: NatsServerHandle;
let prefix: string;
let client: RunningMesh;
let replicas: RunningMesh[];

beforeEach(async () => {
  nats = await startNatsServer();
  prefix = uniqueName();
  // A process with no services: its own NATS connection for appending and checking.
  client = await startInProcess([], { prefix, natsUrl: nats.url });
  replicas = [];
});

/** Starts `n` bridge replicas, each in its own "process" with its own NATS connection. */
async function startReplicas(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    replicas.push(await startInProcess({ name: 'bridge', start: startBridge }, { prefix, natsUrl: nats.url }));
  }
}

afterEach(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await client?.stop();
  await nats?.stop();
});

/** Per replica, the `mqtt->ws` partitions its admin endpoint reports as held (undefined once stopped). */
async function partitions(): Promise<Array<number[] | undefined>> {
  return Promise.all(
    replicas.map(async (replica) => {
      const admin = replica.services[0]?.endpoints.admin;
      try {
        const listed = (await (await fetch(`${admin}/routes`)).json()) as {
          routes: Array<{ id: string; partitions: number[] }>;
        };
        return listed.routes.find((r) => r.id === 'mqtt->ws')?.partitions;
      } catch {
        return undefined;
      }
    }),
  );
}

/** Every message of a stream, in stream order, read with an ephemeral consumer. */
async function readStream(backbone: Backbone, stream: string): Promise<DeliveredMessage[]> {
  const state = await backbone.streamState(stream);
  const got: DeliveredMessage[] = [];
  const handle = await backbone.consume({ stream, deliver: { kind: 'all' } }, (m) => {
    got.push(m);
    m.ack();
  });
  try {
    await waitFor(() => got.length >= (state?.messages ?? 0), `${state?.messages} messages of ${stream}`);
  } finally {
    await handle.stop();
  }
  return got;
}

/** Per topic, the payload indexes in the order the stream holds them. */
function byTopic(layout: MeshLayout, messages: readonly DeliveredMessage[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const m of messages) {
    const topic = subjectToTopic(layout.prefix, m.subject)!.topic;
    const list = out.get(topic) ?? [];
    list.push(Number(new TextDecoder().decode(m.payload)));
    out.set(topic, list);
  }
  return out;
}

describe('bridge replicas on NATS', () => {
  it('three replicas share the partitions; 2,000 QoS 1 messages over 20 topics cross exactly once, in order per topic, while one stops', async () => {
    const { backbone, layout } = client;
    await startReplicas(3);
    await waitFor(async () => {
      const held = await partitions();
      return held.every((p) => p?.length === 4) ? held : undefined;
    }, 'four of the twelve partitions on each replica');

    let stopped: Promise<void> | undefined;
    let stoppedAt = 0;
    // Appended in batches with short pauses, so a replica is stopped while messages still flow.
    for (let batch = 0; batch < 20; batch++) {
      const appends: Promise<unknown>[] = [];
      for (let i = batch * 100; i < (batch + 1) * 100; i++) {
        const topic = `sensors/${i % TOPICS}/temp`;
        appends.push(
          backbone.append(topicToSubject({ prefix, tier: 'mqtt' }, topic, '1'), new TextEncoder().encode(String(i))),
        );
      }
      await Promise.all(appends);
      if (batch === 7) {
        stoppedAt = (await backbone.streamState(layout.streams.ws.name))!.messages;
        stopped = replicas[0]!.stop();
      }
      await sleep(25);
    }
    await stopped;
    expect(stoppedAt).toBeGreaterThan(0);
    expect(stoppedAt).toBeLessThan(MESSAGES);

    const [, ...after] = await waitFor(async () => {
      const held = await partitions();
      return held[1]?.length === 6 && held[2]?.length === 6 ? held : undefined;
    }, 'the two others to take six partitions each');
    expect([...after[0]!, ...after[1]!].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));

    await waitFor(
      async () => (await backbone.streamState(layout.streams.ws.name))!.messages >= MESSAGES,
      'every message in the ws stream',
      30_000,
    );
    await sleep(300); // a duplicate, if any, would land now
    const ws = await readStream(backbone, layout.streams.ws.name);
    expect(ws).toHaveLength(MESSAGES);
    const indexes = ws.map((m) => Number(new TextDecoder().decode(m.payload)));
    expect(new Set(indexes).size).toBe(MESSAGES);
    for (const [topic, list] of byTopic(layout, ws)) {
      const n = Number(topic.split('/')[1]);
      expect(list, topic).toEqual(Array.from({ length: MESSAGES / TOPICS }, (_, k) => k * TOPICS + n));
    }
    expect(decodeMeta(ws[0]!.headers)).toMatchObject({ route: 'mqtt->ws', hops: 1 });
    // Loop prevention on NATS: the ws->mqtt route stored none of them back.
    expect((await backbone.streamState(layout.streams.mqtt.name))!.messages).toBe(MESSAGES);
  });

  it('three replicas: each QoS 0 message crosses exactly once (queue group)', async () => {
    const { backbone } = client;
    await startReplicas(3);
    const got: string[] = [];
    const sub = backbone.subscribe(`${prefix}.ws.0.>`, (m) => got.push(new TextDecoder().decode(m.payload)));
    try {
      await backbone.flush();
      for (let i = 0; i < 300; i++) {
        backbone.publish(
          topicToSubject({ prefix, tier: 'mqtt' }, `q0/${i % 3}`, '0'),
          new TextEncoder().encode(String(i)),
        );
      }
      await backbone.flush();
      await waitFor(() => got.length >= 300, '300 bridged messages');
      await sleep(200);
      expect(got.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    } finally {
      sub.unsubscribe();
    }
  });

  it('replicas taking over from one that died mid-flight resume at the stored position without duplicates', async () => {
    const { backbone, layout } = client;
    const stream = layout.streams.mqtt.name;
    const enc = (s: string) => new TextEncoder().encode(s);
    // The dead owner: the route began at seq 1, it stored two of five messages and no position.
    const kv = await backbone.kv({ bucket: `${stream.replace(/_MQTT$/, '')}_BRIDGE` });
    await kv.create('start.mqtt-to-ws', enc(JSON.stringify({ seq: 1 })));
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      seqs.push((await backbone.append(topicToSubject({ prefix, tier: 'mqtt' }, 'd', '1'), enc(String(i)))).seq);
    }
    for (const i of [0, 1]) {
      await backbone.append(topicToSubject({ prefix, tier: 'ws' }, 'd', '1'), enc(String(i)), {
        msgId: `${stream}:${seqs[i]}:mqtt->ws`,
      });
    }
    await startReplicas(2);
    await waitFor(
      async () => (await backbone.streamState(layout.streams.ws.name))!.messages >= 5,
      'five in ws',
      10_000,
    );
    await sleep(200);
    const ws = await readStream(backbone, layout.streams.ws.name);
    expect(ws.map((m) => new TextDecoder().decode(m.payload))).toEqual(['0', '1', '2', '3', '4']);
  });
});
