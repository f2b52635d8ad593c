// Fan-out benchmark: one publisher, N subscribers, side by side in one run:
//   - baseline: a plain `ws` broadcast server (the same buffer to every client),
//   - ws-edge at QoS 0 (NATS-core path) and QoS 1 (stored, delivered with its stream position),
//     on the embedded backbone, so the comparison is the gateway itself.
// Reports deliveries per second, p50/p99 latency (publisher send → subscriber receive, one clock),
// and memory per idle connection (server heap + external after GC, per connected subscriber).
// Usage: npm run bench:ws  [-- --subscribers 1000,10000 --messages 1000,200 --window 20]
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000,10000' },
    messages: { type: 'string', default: '1000,200' },
    window: { type: 'string', default: '20' },
  },
});
const SUBSCRIBERS = values.subscribers.split(',').map(Number);
const MESSAGES = values.messages.split(',').map(Number);
const WINDOW = Number(values.window);
const WARMUP = 20;
const CONNECT_BATCH = 250;
const server = new URL('./ws-server.mjs', import.meta.url);

function startServer(mode) {
  const child = fork(server, [mode], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = new Promise((resolve, reject) => {
    child.once('message', (message) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`${mode} server exited ${code}`)));
  });
  const memory = () =>
    new Promise((resolve) => {
      child.once('message', (message) => resolve(message.mem));
      child.send('mem');
    });
  return { child, ready, memory };
}

function open(url, protocol) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocol, { perMessageDeflate: false });
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Opens `count` subscribers in batches; for ws-edge each subscribes and waits for its ok. */
async function subscribers(count, url, subscribe) {
  const sockets = [];
  for (let i = 0; i < count; i += CONNECT_BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + CONNECT_BATCH); j++) {
      batch.push(
        open(url, 'protomesh.v1').then(
          (socket) =>
            new Promise((resolve) => {
              if (!subscribe) return resolve(socket);
              socket.once('message', () => resolve(socket));
              socket.send(JSON.stringify({ op: 'sub', id: 1, filter: 'bench/#' }));
            }),
        ),
      );
    }
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

const PAYLOAD_RE = /i:(\d+) t:([\d.]+)/;

/**
 * Publishes `warmup + messages` messages with at most `WINDOW` not yet delivered to every
 * subscriber; measures from the first measured message to the last delivery.
 */
async function run(sockets, publish, messages) {
  const n = sockets.length;
  const total = WARMUP + messages;
  const delivered = new Uint32Array(total);
  const latencies = new Float64Array(n * messages);
  let recorded = 0;
  let complete = 0;
  let sent = 0;
  let start = 0;
  let resolveDone;
  const done = new Promise((resolve) => {
    resolveDone = resolve;
  });
  const pump = () => {
    while (sent < total && sent - complete < WINDOW) {
      if (sent === WARMUP) start = performance.now();
      publish(`i:${sent} t:${performance.now()}`);
      sent += 1;
    }
  };
  const onMessage = (data) => {
    const now = performance.now();
    const match = PAYLOAD_RE.exec(typeof data === 'string' ? data : data.toString());
    if (!match) return;
    const i = Number(match[1]);
    if (i >= WARMUP) latencies[recorded++] = now - Number(match[2]);
    delivered[i] += 1;
    if (delivered[i] === n) {
      complete += 1;
      if (complete === total) resolveDone(performance.now());
      else pump();
    }
  };
  for (const socket of sockets) socket.on('message', onMessage);
  pump();
  const end = await done;
  for (const socket of sockets) socket.off('message', onMessage);
  const sorted = latencies.subarray(0, recorded).sort();
  const at = (q) => sorted[Math.min(recorded - 1, Math.floor(q * recorded))];
  return { rate: (n * messages) / ((end - start) / 1000), p50: at(0.5), p99: at(0.99) };
}

async function scenario(name, mode, count, messages, qos) {
  const srv = startServer(mode);
  const port = await srv.ready;
  const before = await srv.memory();
  const edge = mode === 'ws-edge';
  const url = edge ? `ws://127.0.0.1:${port}/ws` : `ws://127.0.0.1:${port}/`;
  const subs = await subscribers(count, url, edge);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const after = await srv.memory();
  const publisher = await open(edge ? url : `ws://127.0.0.1:${port}/pub`, 'protomesh.v1');
  const publish = edge
    ? (text) => publisher.send(JSON.stringify({ op: 'pub', topic: 'bench/x', qos, text }))
    : (text) => publisher.send(text);
  const result = await run(subs, publish, messages);
  for (const socket of [...subs, publisher]) socket.terminate();
  srv.child.disconnect();
  await new Promise((resolve) => srv.child.once('exit', resolve));
  return { name, count, messages, ...result, memPerConn: (after - before) / count };
}

const rows = [];
for (const [k, count] of SUBSCRIBERS.entries()) {
  const messages = MESSAGES[k] ?? MESSAGES.at(-1);
  const baseline = await scenario('ws broadcast (baseline)', 'baseline', count, messages, 0);
  rows.push({ ...baseline, ratio: 1 });
  for (const qos of [0, 1]) {
    const edge = await scenario(`ws-edge QoS ${qos}`, 'ws-edge', count, messages, qos);
    rows.push({ ...edge, ratio: edge.rate / baseline.rate, memRatio: edge.memPerConn / baseline.memPerConn });
  }
}

const fmt = (x, digits = 0) =>
  x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const header =
  '| server | subscribers | messages | deliveries/s | vs baseline | p50 ms | p99 ms | memory / idle connection |';
const lines = [header, '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];
for (const row of rows) {
  lines.push(
    `| ${row.name} | ${fmt(row.count)} | ${fmt(row.messages)} | ${fmt(row.rate)} | ${fmt(row.ratio, 2)}× | ${fmt(row.p50, 1)} | ${fmt(row.p99, 1)} | ${fmt(row.memPerConn / 1024, 1)} KiB |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n\n`);
const edgeRows = rows.filter((row) => row.name.startsWith('ws-edge QoS 0'));
const worstRatio = Math.min(...edgeRows.map((row) => row.ratio));
const worstMem = Math.max(...rows.filter((row) => row.name.startsWith('ws-edge')).map((row) => row.memPerConn));
process.stdout.write(
  `targets: QoS 0 deliveries/s ≥ 0.8× baseline: ${worstRatio >= 0.8 ? 'met' : 'NOT met'} (worst ${fmt(worstRatio, 2)}×); ` +
    `≤ 8 KiB per idle connection: ${worstMem <= 8 * 1024 ? 'met' : 'NOT met'} (worst ${fmt(worstMem / 1024, 1)} KiB)\n`,
);
