// MQTT benchmark, side by side in one run, every broker in its own process on loopback:
//   - mosquitto (Debian's, started here on a free port with max_queued_messages 0 so QoS 1 is not dropped),
//   - nats-server's own MQTT listener (JetStream on, a temporary store),
//   - mqtt-edge on the embedded backbone (`protomesh mqtt-edge`, NATS_URL unset),
//   - mqtt-edge on a real nats-server.
// Measured with MQTT.js 3.1.1 clients: QoS 0 and QoS 1 one-to-one throughput (QoS 1 with zero loss
// required), fan-out 1 → N deliveries per second, p50/p99 latency at a fixed rate, and memory per
// idle connection (broker RSS growth over M raw idle connections). Ratios are against mosquitto
// and nats-server MQTT in the same run.
// Usage: npm run bench:mqtt  [-- --messages 50000 --qos1 20000 --fanout 100 --rate 1000 --idle 5000]
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import hdr from 'hdr-histogram-js';
import mqtt from 'mqtt';
import { generate } from 'mqtt-packet';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '50000' },
    qos1: { type: 'string', default: '20000' },
    fanout: { type: 'string', default: '100' },
    'fanout-messages': { type: 'string', default: '1000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '5' },
    idle: { type: 'string', default: '5000' },
    window: { type: 'string', default: '1000' },
    only: { type: 'string', default: '' },
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
  const child = run(process.execPath, [join(root, 'bin/protomesh.mjs'), 'mqtt-edge'], env);
  await waitForPort(port, child, 'mqtt-edge');
  return { port, pid: child.pid, stop: () => stop(child) };
}

// ------------------------------------------------------------------ measurements

async function client(port, options = {}) {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    clean: true,
    ...options,
  });
}

/** One publisher → one subscriber: messages per second received, and how many arrived. */
async function oneToOne(port, qos, count) {
  const topic = `bench/${qos}/${Math.random().toString(36).slice(2)}`;
  const sub = await client(port);
  const pub = await client(port);
  await sub.subscribeAsync(topic, { qos });
  let received = 0;
  let done;
  const all = new Promise((resolve) => {
    done = resolve;
  });
  sub.on('message', () => {
    received += 1;
    if (received === count) done();
  });
  const started = performance.now();
  if (qos === 0) {
    for (let i = 0; i < count; i++) {
      // Respect the socket: wait for drain when MQTT.js's stream buffer is full.
      if (!pub.stream.writableNeedDrain) pub.publish(topic, PAYLOAD, { qos: 0 });
      else {
        await new Promise((resolve) => pub.stream.once('drain', resolve));
        pub.publish(topic, PAYLOAD, { qos: 0 });
      }
    }
  } else {
    let inFlight = 0;
    let wake;
    for (let i = 0; i < count; i++) {
      while (inFlight >= WINDOW) await new Promise((resolve) => (wake = resolve));
      inFlight += 1;
      pub.publish(topic, PAYLOAD, { qos: 1 }, () => {
        inFlight -= 1;
        wake?.();
      });
    }
  }
  await Promise.race([all, new Promise((resolve) => setTimeout(resolve, qos === 0 ? 5_000 : 60_000))]);
  const elapsed = (performance.now() - started) / 1000;
  await Promise.all([sub.endAsync(true), pub.endAsync(true)]);
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
    await sub.subscribeAsync(topic, { qos: 0 });
    sub.on('message', () => {
      delivered += 1;
      if (delivered === total) done();
    });
    subs.push(sub);
  }
  const pub = await client(port);
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    pub.publish(topic, PAYLOAD, { qos: 0 });
    if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 20_000))]);
  const elapsed = (performance.now() - started) / 1000;
  await Promise.all([...subs, pub].map((c) => c.endAsync(true)));
  return { rate: delivered / elapsed, delivered, total };
}

/** Latency at a fixed rate (publisher send → subscriber receive, one clock), in milliseconds. */
async function latency(port, qos, rate, seconds) {
  const topic = `bench/lat/${Math.random().toString(36).slice(2)}`;
  const sub = await client(port);
  const pub = await client(port);
  await sub.subscribeAsync(topic, { qos });
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const count = rate * seconds;
  let received = 0;
  sub.on('message', (_t, payload) => {
    const sent = payload.readDoubleLE(0);
    histogram.recordValue(Math.max(1, Math.round((performance.now() - sent) * 1000))); // µs
    received += 1;
  });
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const payload = Buffer.alloc(64);
    payload.writeDoubleLE(performance.now(), 0);
    pub.publish(topic, payload, { qos });
  }
  const deadline = Date.now() + 5_000;
  while (received < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await Promise.all([sub.endAsync(true), pub.endAsync(true)]);
  return {
    p50: histogram.getValueAtPercentile(50) / 1000,
    p99: histogram.getValueAtPercentile(99) / 1000,
    received,
    count,
  };
}

/** Broker RSS growth per idle connection over `count` raw connections (CONNECT, CONNACK, then nothing). */
async function idleMemory(port, pid, count) {
  const connect = generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clientId: '',
    clean: true,
    keepalive: 0,
  });
  const before = await rssKiB(pid);
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
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const after = await rssKiB(pid);
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 500));
  return ((after - before) * 1024) / count;
}

// ------------------------------------------------------------------ run

const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits }) : '—';

async function measure(name, port, pid) {
  process.stderr.write(`… ${name}\n`);
  const result = { name };
  result.qos0 = await oneToOne(port, 0, QOS0_MESSAGES);
  result.qos1 = await oneToOne(port, 1, QOS1_MESSAGES);
  result.fan = await fanOut(port, FANOUT, FANOUT_MESSAGES);
  result.lat0 = await latency(port, 0, RATE, SECONDS);
  result.lat1 = await latency(port, 1, RATE, SECONDS);
  result.idle = IDLE > 0 ? await idleMemory(port, pid, IDLE) : Number.NaN;
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
  `\nMQTT brokers, one process each on loopback; ${PAYLOAD.length}-byte payloads; MQTT.js 3.1.1 clients; QoS 1 window ${WINDOW}\n`,
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
