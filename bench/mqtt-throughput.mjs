// MQTT benchmark, side by side in one run, every broker in its own process on loopback:
//   - mosquitto (Debian's, started here on a free port with max_queued_messages 0 so QoS 1 is not dropped),
//   - nats-server's own MQTT listener (JetStream on, a temporary store),
//   - mqtt-edge on the embedded backbone (`protomesh mqtt-edge`, NATS_URL unset),
//   - mqtt-edge on a real nats-server.
// Every broker is measured with the same raw MQTT 3.1.1 client (mqtt-packet's encoder and a
// minimal framer, TCP_NODELAY; far lighter than MQTT.js, so the generator is not what is
// measured), after the same short warm-up: QoS 0 and QoS 1 one-to-one throughput (QoS 1 with
// zero loss required), fan-out 1 → N deliveries per second, p50/p99 latency at a fixed rate,
// and memory per idle connection (broker RSS growth over M raw idle connections). Ratios are
// against mosquitto and nats-server MQTT in the same run.
// Usage: npm run bench:mqtt  [-- --messages 200000 --qos1 20000 --fanout 100 --rate 1000 --idle 5000 --repeat 3
//                               --only mosquitto,nats-mqtt,edge-embedded,edge-nats --phases qos0,qos1,fan,lat0,lat1,idle]
// Profiling: BENCH_EDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" adds node options to
// the edge; BENCH_EDGE_SCRIPT=<file> runs another build of the edge (before/after runs).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import hdr from 'hdr-histogram-js';
import { generate } from 'mqtt-packet';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    qos1: { type: 'string', default: '20000' },
    fanout: { type: 'string', default: '100' },
    'fanout-messages': { type: 'string', default: '1000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '5' },
    idle: { type: 'string', default: '5000' },
    window: { type: 'string', default: '1000' },
    // Throughput phases run this many times; the median run is reported.
    repeat: { type: 'string', default: '3' },
    only: { type: 'string', default: '' },
    // Comma-separated subset of qos0,qos1,fan,lat0,lat1,idle (for profiling one phase).
    phases: { type: 'string', default: 'qos0,qos1,fan,lat0,lat1,idle' },
  },
});
const QOS0_MESSAGES = Number(values.messages);
const QOS1_MESSAGES = Number(values.qos1);
const FANOUT = Number(values.fanout);
const FANOUT_MESSAGES = Number(values['fanout-messages']);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const IDLE = Number(values.idle);
const WINDOW = Number(values.window);
const REPEAT = Math.max(1, Number(values.repeat));
const PAYLOAD = Buffer.alloc(64, 0x61);
const root = fileURLToPath(new URL('..', import.meta.url));

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, name) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function run(command, args, env = {}, quiet = false) {
  return spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', quiet ? 'ignore' : 'inherit'],
  });
}

async function stop(child) {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function rssKiB(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

// ------------------------------------------------------------------ brokers

async function startMosquitto(dir) {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n`);
  const child = run('/usr/sbin/mosquitto', ['-c', conf], {}, true);
  await waitForPort(port, child, 'mosquitto');
  return { name: 'mosquitto', port, pid: child.pid, stop: () => stop(child) };
}

async function startNats(dir, mqttListener) {
  const port = await freePort();
  const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, `nats-${port}`)];
  let mqttPort;
  if (mqttListener) {
    mqttPort = await freePort();
    const conf = join(dir, `nats-${port}.conf`);
    await writeFile(conf, `server_name: bench_${port}\nmqtt { host: 127.0.0.1, port: ${mqttPort} }\n`);
    args.push('-c', conf);
  }
  const child = run('nats-server', args, {}, true);
  await waitForPort(mqttPort ?? port, child, 'nats-server');
  return { port, mqttPort, pid: child.pid, stop: () => stop(child) };
}

async function startEdge(natsUrl) {
  const port = await freePort();
  const env = {
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: String(port),
    MQTT_ADMIN_PORT: String(await freePort()),
    ADMIN_HOST: '127.0.0.1',
    MQTT_ALLOW_ANONYMOUS: 'true',
    MESH_PREFIX: `bench${process.pid}x${port}`,
    LOG_LEVEL: 'warn',
    NATS_URL: natsUrl ?? '',
  };
  // BENCH_EDGE_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the edge.
  const nodeArgs = (process.env.BENCH_EDGE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // BENCH_EDGE_SCRIPT runs another build of the edge (a before/after comparison).
  const script = process.env.BENCH_EDGE_SCRIPT
    ? [process.env.BENCH_EDGE_SCRIPT]
    : [join(root, 'bin/protomesh.mjs'), 'mqtt-edge'];
  const child = run(process.execPath, [...nodeArgs, ...script], env);
  await waitForPort(port, child, 'mqtt-edge');
  return { port, pid: child.pid, stop: () => stop(child) };
}

// ------------------------------------------------------------------ measurements

/**
 * A raw MQTT 3.1.1 client on mqtt-packet's encoder and a minimal framer: far cheaper than
 * MQTT.js, so the generator is not what is measured. Every broker gets the same client.
 * `onPublish(buffer, payloadOffset, qos, id)` sees each PUBLISH (QoS 1/2 are acknowledged);
 * `onAck(type)` sees every other packet.
 */
class RawClient {
  static #serial = 0;
  constructor(port) {
    this.port = port;
    this.socket = undefined;
    this.onPublish = undefined;
    this.onAck = undefined;
    this.acks = new Map(); // type → resolver list for the next packet of that type
    this.pending = undefined;
  }

  async connect() {
    this.socket = tcpConnect(this.port, '127.0.0.1');
    this.socket.setNoDelay(true);
    await new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('error', () => undefined);
    this.socket.on('data', (chunk) => this.#onData(chunk));
    const connack = this.next(2);
    this.socket.write(
      generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clientId: `bench-${process.pid}-${++RawClient.#serial}`,
        clean: true,
        keepalive: 0,
      }),
    );
    await connack;
    return this;
  }

  /** Resolves with the next packet of control type `type`. */
  next(type) {
    return new Promise((resolve) => {
      const list = this.acks.get(type) ?? [];
      list.push(resolve);
      this.acks.set(type, list);
    });
  }

  async subscribe(topic, qos) {
    const suback = this.next(9);
    this.socket.write(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] }));
    await suback;
  }

  /** Writes bytes; resolves at once, or on 'drain' when the socket buffer is full. */
  write(bytes) {
    if (this.socket.write(bytes)) return undefined;
    return new Promise((resolve) => this.socket.once('drain', resolve));
  }

  #onData(chunk) {
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let pos = 0;
    const acks = [];
    while (pos < data.length) {
      let remaining = 0;
      let multiplier = 1;
      let i = pos + 1;
      let complete = false;
      for (; i < data.length && i < pos + 5; i++) {
        remaining += (data[i] & 0x7f) * multiplier;
        multiplier *= 128;
        if ((data[i] & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      const start = i + 1;
      if (!complete || start + remaining > data.length) break;
      const type = data[pos] >> 4;
      if (type === 3) {
        const qos = (data[pos] >> 1) & 3;
        const topicLength = data.readUInt16BE(start);
        let at = start + 2 + topicLength;
        let id = 0;
        if (qos > 0) {
          id = data.readUInt16BE(at);
          at += 2;
          acks.push(qos === 1 ? 0x40 : 0x50, 0x02, id >> 8, id & 0xff);
        }
        this.onPublish?.(data, at, qos, id);
      } else {
        const list = this.acks.get(type);
        const resolve = list?.shift();
        if (resolve) resolve(data.subarray(pos, start + remaining));
        else this.onAck?.(type, data, start);
      }
      pos = start + remaining;
    }
    if (pos < data.length) this.pending = Buffer.from(data.subarray(pos));
    if (acks.length > 0) this.socket.write(Buffer.from(acks));
  }

  end() {
    return new Promise((resolve) => {
      this.socket.end(Buffer.from([0xe0, 0x00]), () => resolve()); // DISCONNECT
      this.socket.once('close', resolve);
      setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 1_000).unref();
    });
  }
}

async function client(port) {
  return new RawClient(port).connect();
}

/** A PUBLISH packet (3.1.1) with `id` patched in later for QoS 1. */
function publishBytes(topic, payload, qos, id = 1) {
  return generate({ cmd: 'publish', topic, payload, qos, retain: false, dup: false, messageId: id });
}

/** One publisher → one subscriber: messages per second received, and how many arrived. */
async function oneToOne(port, qos, count) {
  const topic = `bench/${qos}/${Math.random().toString(36).slice(2)}`;
  const sub = await client(port);
  const pub = await client(port);
  await sub.subscribe(topic, qos);
  let received = 0;
  let done;
  const all = new Promise((resolve) => {
    done = resolve;
  });
  sub.onPublish = () => {
    received += 1;
    if (received === count) done();
  };
  const started = performance.now();
  if (qos === 0) {
    // Batches of 100 packets per write, waiting for 'drain' when the socket is full.
    const packet = publishBytes(topic, PAYLOAD, 0);
    const batch = Buffer.concat(Array.from({ length: 100 }, () => packet));
    for (let sent = 0; sent < count; sent += 100) {
      const n = Math.min(100, count - sent);
      await pub.write(n === 100 ? batch : batch.subarray(0, n * packet.length));
    }
  } else {
    // A window of WINDOW unacknowledged QoS 1 messages (identifiers 1..WINDOW reused as PUBACKs return).
    const template = publishBytes(topic, PAYLOAD, 1);
    const idAt = template.length - PAYLOAD.length - 2;
    let inFlight = 0;
    let wake;
    let nextId = 0;
    pub.onAck = (type) => {
      if (type !== 4) return;
      inFlight -= 1;
      wake?.();
    };
    let sent = 0;
    while (sent < count) {
      while (inFlight >= WINDOW) await new Promise((resolve) => (wake = resolve));
      const n = Math.min(count - sent, WINDOW - inFlight, 100);
      const out = Buffer.allocUnsafe(n * template.length);
      for (let i = 0; i < n; i++) {
        template.copy(out, i * template.length);
        nextId = (nextId % 65_535) + 1;
        out.writeUInt16BE(nextId, i * template.length + idAt);
      }
      inFlight += n;
      sent += n;
      await pub.write(out);
    }
  }
  await Promise.race([all, new Promise((resolve) => setTimeout(resolve, qos === 0 ? 5_000 : 60_000))]);
  const elapsed = (performance.now() - started) / 1000;
  await Promise.all([sub.end(), pub.end()]);
  return { rate: received / elapsed, received, count };
}

/** One publisher → N subscribers at QoS 0: deliveries per second. */
async function fanOut(port, subscribers, count) {
  const topic = `bench/fan/${Math.random().toString(36).slice(2)}`;
  const subs = [];
  let delivered = 0;
  const total = subscribers * count;
  let done;
  const all = new Promise((resolve) => {
    done = resolve;
  });
  for (let i = 0; i < subscribers; i++) {
    const sub = await client(port);
    await sub.subscribe(topic, 0);
    sub.onPublish = () => {
      delivered += 1;
      if (delivered === total) done();
    };
    subs.push(sub);
  }
  const pub = await client(port);
  const packet = publishBytes(topic, PAYLOAD, 0);
  const started = performance.now();
  for (let i = 0; i < count; i += 50) {
    // 50 messages per turn, as a steady publisher would send them.
    const n = Math.min(50, count - i);
    await pub.write(Buffer.concat(Array.from({ length: n }, () => packet)));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 20_000))]);
  const elapsed = (performance.now() - started) / 1000;
  await Promise.all([...subs, pub].map((c) => c.end()));
  return { rate: delivered / elapsed, delivered, total };
}

/** Latency at a fixed rate (publisher send → subscriber receive, one clock), in milliseconds. */
async function latency(port, qos, rate, seconds) {
  const topic = `bench/lat/${Math.random().toString(36).slice(2)}`;
  const sub = await client(port);
  const pub = await client(port);
  await sub.subscribe(topic, qos);
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const count = rate * seconds;
  let received = 0;
  sub.onPublish = (data, at) => {
    const sent = data.readDoubleLE(at);
    histogram.recordValue(Math.max(1, Math.round((performance.now() - sent) * 1000))); // µs
    received += 1;
  };
  const template = publishBytes(topic, Buffer.alloc(64), qos);
  const payloadAt = template.length - 64;
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const packet = Buffer.from(template);
    if (qos > 0) packet.writeUInt16BE((i % 65_535) + 1, payloadAt - 2);
    packet.writeDoubleLE(performance.now(), payloadAt);
    pub.socket.write(packet);
  }
  const deadline = Date.now() + 5_000;
  while (received < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await Promise.all([sub.end(), pub.end()]);
  return {
    p50: histogram.getValueAtPercentile(50) / 1000,
    p99: histogram.getValueAtPercentile(99) / 1000,
    received,
    count,
  };
}

/**
 * Broker RSS growth per idle connection over `count` raw connections (CONNECT, CONNACK, then
 * nothing). Measured after the warm-up, before the throughput phases: a fresh runtime would
 * count its heap growing to its working size, and after the throughput phases a
 * garbage-collected runtime can shrink while the connections are opened. A first round of
 * connections (closed again) warms up what is allocated once.
 */
async function idleMemory(port, pid, count) {
  await openIdle(port, Math.min(count, 200)).then(closeAll);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = await rssKiB(pid);
  const sockets = await openIdle(port, count);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const after = await rssKiB(pid);
  closeAll(sockets);
  await new Promise((resolve) => setTimeout(resolve, 500));
  return ((after - before) * 1024) / count;
}

function closeAll(sockets) {
  for (const socket of sockets) socket.destroy();
}

/** Opens `count` raw MQTT 3.1.1 connections (200 at a time), each after its CONNACK. */
async function openIdle(port, count) {
  const connect = generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clientId: '',
    clean: true,
    keepalive: 0,
  });
  const sockets = [];
  for (let i = 0; i < count; i += 200) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 200); j++) {
      batch.push(
        new Promise((resolve, reject) => {
          const socket = tcpConnect(port, '127.0.0.1');
          socket.once('error', reject);
          socket.once('connect', () => socket.write(connect));
          socket.once('data', () => resolve(socket)); // CONNACK
          sockets.push(socket);
        }),
      );
    }
    await Promise.all(batch);
  }
  return sockets;
}

// ------------------------------------------------------------------ run

const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits }) : '—';

/**
 * Runs a phase REPEAT times and keeps the run with the median `by` (rate, or p99 for the
 * latency phases): short runs on a shared machine vary by tens of percent, and a single stall
 * of the machine moves a p99. A loss in any run is kept, so zero loss means zero in every run.
 */
async function median(phase, by = 'rate') {
  const runs = [];
  for (let i = 0; i < REPEAT; i++) runs.push(await phase());
  runs.sort((a, b) => a[by] - b[by]);
  const middle = runs[Math.floor(runs.length / 2)];
  if (middle.count === undefined) return middle;
  const lost = Math.max(...runs.map((r) => r.count - r.received));
  return { ...middle, received: middle.count - lost };
}

async function measure(name, port, pid) {
  process.stderr.write(`… ${name}\n`);
  const phases = new Set(values.phases.split(','));
  const skipped = { rate: Number.NaN, received: 0, count: 0, p50: Number.NaN, p99: Number.NaN };
  const result = { name };
  // Warm-up, not measured, the same for every broker: a JIT-compiled broker (mqtt-edge) is
  // measured in steady state, as a long-running broker runs, not while compiling.
  await oneToOne(port, 0, 20_000);
  await oneToOne(port, 1, 5_000);
  await fanOut(port, 10, 500);
  result.idle = IDLE > 0 && phases.has('idle') ? await idleMemory(port, pid, IDLE) : Number.NaN;
  result.qos0 = phases.has('qos0') ? await median(() => oneToOne(port, 0, QOS0_MESSAGES)) : skipped;
  result.qos1 = phases.has('qos1') ? await median(() => oneToOne(port, 1, QOS1_MESSAGES)) : skipped;
  result.fan = phases.has('fan') ? await median(() => fanOut(port, FANOUT, FANOUT_MESSAGES)) : skipped;
  result.lat0 = phases.has('lat0') ? await median(() => latency(port, 0, RATE, SECONDS), 'p99') : skipped;
  result.lat1 = phases.has('lat1') ? await median(() => latency(port, 1, RATE, SECONDS), 'p99') : skipped;
  return result;
}

const dir = await mkdtemp(join(tmpdir(), 'bench-mqtt-'));
const results = [];
const running = [];
try {
  const only = values.only ? values.only.split(',') : undefined;
  const want = (name) => !only || only.includes(name);
  if (want('mosquitto')) {
    const m = await startMosquitto(dir);
    running.push(m);
    results.push(await measure('mosquitto 2.0', m.port, m.pid));
    await m.stop();
  }
  if (want('nats-mqtt')) {
    const n = await startNats(dir, true);
    running.push(n);
    results.push(await measure('nats-server MQTT', n.mqttPort, n.pid));
    await n.stop();
  }
  if (want('edge-embedded')) {
    const e = await startEdge(undefined);
    running.push(e);
    results.push(await measure('mqtt-edge (embedded)', e.port, e.pid));
    await e.stop();
  }
  if (want('edge-nats')) {
    const n = await startNats(dir, false);
    running.push(n);
    const e = await startEdge(`nats://127.0.0.1:${n.port}`);
    running.push(e);
    results.push(await measure('mqtt-edge (nats-server)', e.port, e.pid));
    await e.stop();
    await n.stop();
  }
} finally {
  for (const r of running) await r.stop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}

const mosquitto = results.find((r) => r.name.startsWith('mosquitto'));
const natsMqtt = results.find((r) => r.name.startsWith('nats-server'));
const ratio = (value, base) => (base && Number.isFinite(value) && base > 0 ? `${(value / base).toFixed(2)}×` : '—');
const rows = [
  [
    'broker',
    'QoS 0 msg/s',
    'QoS 1 msg/s (lost)',
    `fan-out 1→${FANOUT} deliveries/s`,
    `p50/p99 ms QoS 0 @${RATE}/s`,
    `p50/p99 ms QoS 1 @${RATE}/s`,
    'bytes per idle conn',
  ],
  ...results.map((r) => [
    r.name,
    fmt(r.qos0.rate),
    `${fmt(r.qos1.rate)} (${r.qos1.count - r.qos1.received})`,
    fmt(r.fan.rate),
    `${fmt(r.lat0.p50, 2)} / ${fmt(r.lat0.p99, 2)}`,
    `${fmt(r.lat1.p50, 2)} / ${fmt(r.lat1.p99, 2)}`,
    fmt(r.idle),
  ]),
];
const table = (data) => {
  const widths = data[0].map((_, i) => Math.max(...data.map((row) => String(row[i]).length)));
  const line = (row) => `| ${row.map((cell, i) => String(cell).padEnd(widths[i])).join(' | ')} |`;
  return [line(data[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...data.slice(1).map(line)].join('\n');
};
console.log(
  `\nMQTT brokers, one process each on loopback; ${PAYLOAD.length}-byte payloads; raw MQTT 3.1.1 clients; QoS 1 window ${WINDOW}; each rate and latency is the median of ${REPEAT} runs\n`,
);
console.log(table(rows));
const edges = results.filter((r) => r.name.startsWith('mqtt-edge'));
if (edges.length > 0) {
  console.log('\nRatios (higher is better for rates, lower for latency and memory):\n');
  console.log(
    table([
      [
        'mqtt-edge',
        'QoS 0 vs mosquitto',
        'QoS 1 vs nats MQTT',
        'QoS 1 vs mosquitto',
        'fan-out vs mosquitto',
        'p99 QoS 0 vs mosquitto',
        'idle bytes vs mosquitto',
      ],
      ...edges.map((r) => [
        r.name,
        ratio(r.qos0.rate, mosquitto?.qos0.rate),
        ratio(r.qos1.rate, natsMqtt?.qos1.rate),
        ratio(r.qos1.rate, mosquitto?.qos1.rate),
        ratio(r.fan.rate, mosquitto?.fan.rate),
        ratio(r.lat0.p99, mosquitto?.lat0.p99),
        ratio(r.idle, mosquitto?.idle),
      ]),
    ]),
  );
}
