#!/usr/bin/env node
// Bridge benchmark (`npm run bench:bridge`, after `tsc -b`): imports the built packages and
// runs real bridge replicas as separate processes (`node bin/protomesh.mjs bridge`) against a
// real nats-server on a free port.
//
// 1. Throughput, QoS 1, MQTT → WebSocket and WebSocket → MQTT, with 1 and 3 replicas running
//    the one route of that direction (BRIDGE_ROUTES): the replicas take their partitions, are paused (SIGSTOP) while the source tier stream is
//    filled, then resumed; the rate is the target stream's growth from its first to its last
//    message. CPU seconds of the bridges and of nats-server are read from /proc.
//    `--cpu-budget=0.5` also runs every replica under a CPU budget (half a core each, enforced
//    by SIGSTOP/SIGCONT duty cycles like a CFS quota), i.e. replicas that each have their own
//    share of CPU, as pods on separate cores do; without it all replicas share this machine.
// 2. Latency of the bridge hop: messages published on an MQTT-tier topic are received by a
//    subscriber on that same subject (the direct, same-tier path) and by one on the bridged
//    WebSocket-tier subject, in the same run, one message per millisecond; the hop adds the
//    difference. QoS 0 (core NATS both ways) and QoS 1 (stream, bridge reader, append), with
//    the default identity routes in both directions.
//
// Options: --messages=N (default 30000), --latency=N (default 2000), --cpu-budget=F,
//          --replicas=1,3
// Profiling: BENCH_BRIDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" adds node options to
// the bridge replicas (then stopped with SIGTERM, so the profile is written);
// BENCH_BRIDGE_SCRIPT=<main.js> runs another build of the bridge, e.g. a copy of
// services/bridge/dist made before a change (it still loads the libs of this tree).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectNats, meshLayout, provisionMesh } from '@protomesh/backbone';
import { startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { topicToSubject } from '@protomesh/topic-map';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const MESSAGES = Number(args.messages ?? 30_000);
const LATENCY_MESSAGES = Number(args.latency ?? 2_000);
const REPLICAS = String(args.replicas ?? '1,3')
  .split(',')
  .map(Number);
const BUDGET = args['cpu-budget'] ? Number(args['cpu-budget']) : undefined;
const TOPICS = 200;
const PAYLOAD = new TextEncoder().encode(JSON.stringify({ celsius: 21.5, unit: 'C', device: 'sensor-000' }));

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** CPU time of a process so far, in ms (utime + stime from /proc; 10 ms ticks). */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A routes file with the one route under test (the identity route of that direction). */
function routesFile(from, to) {
  const file = join(mkdtempSync(join(tmpdir(), 'bench-bridge-')), 'routes.yaml');
  writeFileSync(
    file,
    `routes:\n  - id: ${from}->${to}\n    from: { tier: ${from}, filter: '#' }\n    to: { tier: ${to} }\n`,
  );
  return file;
}

const NODE_ARGS = (process.env.BENCH_BRIDGE_NODE_ARGS ?? '').split(' ').filter(Boolean);
const SCRIPT = process.env.BENCH_BRIDGE_SCRIPT ? [process.env.BENCH_BRIDGE_SCRIPT] : ['bin/protomesh.mjs', 'bridge'];

async function launchReplicas(natsUrl, prefix, n, routes) {
  const replicas = [];
  for (let i = 0; i < n; i++) {
    const child = spawn(process.execPath, [...NODE_ARGS, ...SCRIPT], {
      cwd: root,
      env: {
        ...process.env,
        NATS_URL: natsUrl,
        MESH_PREFIX: prefix,
        ADMIN_HOST: '127.0.0.1',
        BRIDGE_ADMIN_PORT: '0',
        LOG_LEVEL: 'warn',
        ...(routes ? { BRIDGE_ROUTES: routes } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    const replica = { child, output: '', admin: undefined };
    const collect = (chunk) => {
      replica.output += chunk;
      replica.admin ??= /bridge\s+admin\s+(http:\/\/\S+)/.exec(replica.output)?.[1];
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    replicas.push(replica);
  }
  await waitFor(() => replicas.every((r) => r.admin), 'bridge replicas up', 60_000);
  const share = Math.ceil(12 / n);
  await waitFor(
    async () => {
      const held = await Promise.all(
        replicas.map(async (r) => {
          const listed = await (await fetch(`${r.admin}/routes`)).json();
          return listed.routes.map((route) => route.partitions.length);
        }),
      );
      return held.every((routes) => routes.every((k) => k === share));
    },
    'partitions balanced',
    60_000,
  );
  return replicas;
}

async function stopReplicas(replicas) {
  for (const { child } of replicas) {
    child.kill('SIGCONT');
    if (NODE_ARGS.length > 0 && child.exitCode === null) {
      // Profiling: a graceful stop, so node writes the profile.
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    } else child.kill('SIGKILL');
    children.delete(child);
  }
}

/**
 * Keeps each replica to `budget` of a core: it runs `budget` of every 30 ms period. The replicas'
 * windows are spread over the period (as a CFS quota spreads pods over cores), so with
 * `replicas × budget` below the free cores they do not compete for the same moments.
 */
function dutyCycle(replicas, budget) {
  if (budget === undefined) return () => {};
  const period = 30;
  const timers = new Set();
  let stopped = false;
  const later = (fn, ms) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!stopped) fn();
    }, ms);
    timers.add(timer);
  };
  replicas.forEach(({ child }, i) => {
    const run = () => {
      child.kill('SIGCONT');
      later(() => {
        child.kill('SIGSTOP');
        later(run, period * (1 - budget));
      }, period * budget);
    };
    child.kill('SIGSTOP');
    later(run, (period * i) / replicas.length);
  });
  return () => {
    stopped = true;
    for (const timer of timers) clearTimeout(timer);
    for (const { child } of replicas) child.kill('SIGCONT');
  };
}

async function throughput(nats, from, to, n) {
  const prefix = uniqueName();
  const backbone = await connectNats({ servers: nats.url, name: 'bench' });
  const layout = meshLayout(prefix);
  await provisionMesh(backbone, layout);
  const replicas = await launchReplicas(nats.url, prefix, n, routesFile(from, to));
  for (const { child } of replicas) child.kill('SIGSTOP');
  let window = [];
  for (let i = 0; i < MESSAGES; i++) {
    const subject = topicToSubject({ prefix, tier: from }, `bench/${i % TOPICS}/data`, '1');
    window.push(backbone.append(subject, PAYLOAD));
    if (window.length >= 1_000) {
      await Promise.all(window);
      window = [];
    }
  }
  await Promise.all(window);
  const target = layout.streams[to].name;
  const cpu0 = replicas.map((r) => cpuMs(r.child.pid));
  const nats0 = cpuMs(nats.pid);
  for (const { child } of replicas) child.kill('SIGCONT');
  const release = dutyCycle(replicas, BUDGET);
  let first = 0;
  let last = 0;
  await waitFor(
    async () => {
      const { messages } = await backbone.streamState(target);
      if (!first && messages > 0) first = performance.now();
      last = performance.now();
      return messages >= MESSAGES;
    },
    `${MESSAGES} bridged`,
    300_000,
  );
  release();
  const seconds = (last - first) / 1_000;
  const bridgeCpu = replicas.reduce((sum, r, i) => sum + cpuMs(r.child.pid) - cpu0[i], 0) / 1_000;
  const natsCpu = (cpuMs(nats.pid) - nats0) / 1_000;
  await stopReplicas(replicas);
  await backbone.close();
  return { rate: MESSAGES / seconds, seconds, bridgeCpu, natsCpu };
}

async function latency(nats) {
  const prefix = uniqueName();
  const publisher = await connectNats({ servers: nats.url, name: 'bench-pub' });
  const subscriber = await connectNats({ servers: nats.url, name: 'bench-sub' });
  const layout = meshLayout(prefix);
  await provisionMesh(publisher, layout);
  const replicas = await launchReplicas(nats.url, prefix, 1);
  const out = {};
  for (const cls of ['0', '1']) {
    const topic = `latency/q${cls}`;
    const sent = new Map();
    const direct = [];
    const bridged = [];
    const added = [];
    const directAt = new Map();
    const key = (payload) => new TextDecoder().decode(payload);
    const subs = [
      subscriber.subscribe(topicToSubject({ prefix, tier: 'mqtt' }, topic, cls), (m) => {
        const k = key(m.payload);
        const at = performance.now();
        directAt.set(k, at);
        direct.push(at - sent.get(k));
      }),
      subscriber.subscribe(topicToSubject({ prefix, tier: 'ws' }, topic, cls), (m) => {
        const k = key(m.payload);
        const at = performance.now();
        bridged.push(at - sent.get(k));
        if (directAt.has(k)) added.push(at - directAt.get(k));
      }),
    ];
    await subscriber.flush();
    const subject = topicToSubject({ prefix, tier: 'mqtt' }, topic, cls);
    // Warm-up, then one message a millisecond.
    for (let i = -200; i < LATENCY_MESSAGES; i++) {
      const k = String(i);
      sent.set(k, performance.now());
      if (cls === '0') publisher.publish(subject, new TextEncoder().encode(k));
      else void publisher.append(subject, new TextEncoder().encode(k));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await waitFor(() => bridged.length >= LATENCY_MESSAGES + 200, `latency q${cls} bridged`, 60_000);
    for (const sub of subs) sub.unsubscribe();
    const stats = (list) => {
      const sorted = list.slice(200).sort((a, b) => a - b);
      return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
    };
    out[cls] = { direct: stats(direct), bridged: stats(bridged), added: stats(added) };
  }
  await stopReplicas(replicas);
  await publisher.close();
  await subscriber.close();
  return out;
}

const nats = await startNatsServer();
const serverVersion = await (async () => {
  const probe = await connectNats({ servers: nats.url });
  const version = probe.serverVersion;
  await probe.close();
  return version;
})();
const rows = [];
try {
  for (const [from, to] of [
    ['mqtt', 'ws'],
    ['ws', 'mqtt'],
  ]) {
    const byReplicas = new Map();
    for (const n of REPLICAS) {
      const result = await throughput(nats, from, to, n);
      byReplicas.set(n, result);
      const base = byReplicas.get(REPLICAS[0]);
      rows.push([
        `${from === 'mqtt' ? 'MQTT → WS' : 'WS → MQTT'}`,
        String(n),
        Math.round(result.rate).toLocaleString('en-US'),
        `${(result.rate / base.rate).toFixed(2)}×`,
        result.bridgeCpu.toFixed(2),
        result.natsCpu.toFixed(2),
        ((result.bridgeCpu * 1e6) / MESSAGES).toFixed(0),
      ]);
    }
  }
  const lat = await latency(nats);
  const ms = (v) => v.toFixed(3);
  const budget = BUDGET === undefined ? 'replicas share this machine' : `each replica limited to ${BUDGET} CPU`;
  process.stdout.write(
    [
      '',
      `Bridge throughput, QoS 1, ${MESSAGES.toLocaleString('en-US')} messages over ${TOPICS} topics, 12 partitions (${budget}):`,
      '',
      '| direction | replicas | msg/s | vs 1 replica | bridge CPU s | nats CPU s | bridge CPU µs/msg |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
      '',
      `Latency of the bridge hop, 1 replica, ${LATENCY_MESSAGES} messages at 1/ms (ms):`,
      '',
      '| path | QoS 0 p50 | QoS 0 p99 | QoS 1 p50 | QoS 1 p99 |',
      '|---|---:|---:|---:|---:|',
      `| direct, same tier (MQTT → MQTT) | ${ms(lat[0].direct.p50)} | ${ms(lat[0].direct.p99)} | ${ms(lat[1].direct.p50)} | ${ms(lat[1].direct.p99)} |`,
      `| bridged (MQTT → WS) | ${ms(lat[0].bridged.p50)} | ${ms(lat[0].bridged.p99)} | ${ms(lat[1].bridged.p50)} | ${ms(lat[1].bridged.p99)} |`,
      `| added by the bridge hop | ${ms(lat[0].added.p50)} | ${ms(lat[0].added.p99)} | ${ms(lat[1].added.p50)} | ${ms(lat[1].added.p99)} |`,
      '',
      `machine: ${cpus().length} cores, nats-server ${serverVersion}`,
      '',
    ].join('\n'),
  );
} finally {
  for (const child of children) child.kill('SIGKILL');
  await nats.stop();
}
