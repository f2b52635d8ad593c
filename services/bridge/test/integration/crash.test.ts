// Acceptance: three bridge replicas as separate processes (`node bin/protomesh.mjs bridge`, the
// launcher runs the built tree), 20,000 QoS 1 messages over 200 topics, one replica killed
// with SIGKILL mid-stream: every message arrives in the WebSocket tier once, in order per topic.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DeliveredMessage } from '@protomesh/backbone';
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
import { afterEach, beforeEach, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../..', import.meta.url));
const MESSAGES = 20_000;
const TOPICS = 200;
const BATCH = 500;

interface Replica {
  readonly child: ChildProcess;
  output: string;
  admin?: string;
}

let nats: NatsServerHandle;
let client: RunningMesh;
let prefix: string;
const replicas: Replica[] = [];

beforeEach(async () => {
  nats = await startNatsServer();
  prefix = uniqueName();
  client = await startInProcess([], { prefix, natsUrl: nats.url });
});

afterEach(async () => {
  for (const { child } of replicas.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  await client?.stop();
  await nats?.stop();
});

function launch(): Replica {
  const child = spawn(process.execPath, ['bin/protomesh.mjs', 'bridge'], {
    cwd: root,
    env: {
      ...process.env,
      NATS_URL: nats.url,
      MESH_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      ADMIN_HOST: '127.0.0.1',
      BRIDGE_ADMIN_PORT: '0',
      BRIDGE_PARTITIONS: '12',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const replica: Replica = { child, output: '' };
  const collect = (chunk: Buffer) => {
    replica.output += chunk.toString();
    replica.admin ??= /bridge\s+admin\s+(http:\/\/\S+)/.exec(replica.output)?.[1];
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  replicas.push(replica);
  return replica;
}

async function held(replica: Replica): Promise<number | undefined> {
  try {
    const listed = (await (await fetch(`${replica.admin}/routes`)).json()) as {
      routes: Array<{ id: string; partitions: number[] }>;
    };
    return listed.routes.find((r) => r.id === 'mqtt->ws')?.partitions.length;
  } catch {
    return undefined;
  }
}

it('three bridge processes, 20,000 QoS 1 messages over 200 topics, kill -9 one mid-stream: all arrive once, in order per topic', async () => {
  const { backbone, layout } = client;
  const [a, b, c] = [launch(), launch(), launch()];
  await waitFor(() => [a, b, c].every((r) => r.admin !== undefined), 'three bridge processes up', 20_000);
  await waitFor(
    async () => (await Promise.all([a, b, c].map(held))).every((n) => n === 4),
    'four partitions each',
    20_000,
  );

  const encoder = new TextEncoder();
  let killedAfter = 0;
  for (let start = 0; start < MESSAGES; start += BATCH) {
    const appends: Promise<unknown>[] = [];
    for (let i = start; i < start + BATCH; i++) {
      const subject = topicToSubject({ prefix, tier: 'mqtt' }, `fleet/${i % TOPICS}/state`, '1');
      appends.push(backbone.append(subject, encoder.encode(String(i))));
    }
    await Promise.all(appends);
    if (start + BATCH === MESSAGES / 4) {
      // Mid-stream: the bridge is still busy with what was just appended.
      killedAfter = (await backbone.streamState(layout.streams.ws.name))!.messages;
      b.child.kill('SIGKILL');
    }
  }
  expect(killedAfter).toBeLessThan(MESSAGES);
  await waitFor(() => b.child.signalCode === 'SIGKILL', 'the replica killed');

  await waitFor(
    async () => (await backbone.streamState(layout.streams.ws.name))!.messages >= MESSAGES,
    'every message in the ws stream',
    45_000,
  );
  // The survivors took the dead replica's partitions.
  await waitFor(async () => (await Promise.all([a, c].map(held))).every((n) => n === 6), 'six partitions each');
  await sleep(500); // a duplicate, if any, would land now

  const stream = layout.streams.ws.name;
  const state = (await backbone.streamState(stream))!;
  expect(state.messages).toBe(MESSAGES);
  const got: DeliveredMessage[] = [];
  const reader = await backbone.consume({ stream, deliver: { kind: 'all' }, maxAckPending: 10_000 }, (m) => {
    got.push(m);
    m.ack();
  });
  try {
    await waitFor(() => got.length >= MESSAGES, 'the ws stream read back');
  } finally {
    await reader.stop();
  }
  const values = got.map((m) => Number(new TextDecoder().decode(m.payload)));
  expect(new Set(values).size).toBe(MESSAGES);
  const perTopic = new Map<string, number[]>();
  for (const [k, m] of got.entries()) {
    const topic = subjectToTopic(layout.prefix, m.subject)!.topic;
    const list = perTopic.get(topic) ?? [];
    list.push(values[k]!);
    perTopic.set(topic, list);
  }
  expect(perTopic.size).toBe(TOPICS);
  for (const [topic, list] of perTopic) {
    const n = Number(topic.split('/')[1]);
    expect(list, topic).toEqual(Array.from({ length: MESSAGES / TOPICS }, (_, k) => k * TOPICS + n));
  }
  expect(a.output).not.toMatch(/"level":(50|60)/);
  expect(c.output).not.toMatch(/"level":(50|60)/);
});
