#!/usr/bin/env node
// protomesh-ws: subscribe and publish from a terminal over the Protomesh WebSocket protocol,
// like mosquitto_sub / mosquitto_pub. Uses the client SDK (@protomesh/ws-client, built) and `ws`.
//
//   protomesh-ws sub <filter> [-u url] [-v] [-C count] [--since seq] [--retained] [--token jwt]
//   protomesh-ws pub <topic> <message> [-u url] [-q 0|1] [-r] [--content-type type] [--token jwt]
//
// The URL defaults to $PROTOMESH_WS_URL, else ws://127.0.0.1:8080/ws; the token to $PROTOMESH_TOKEN.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ProtomeshClient } from '@protomesh/ws-client';
import WebSocket from 'ws';

const USAGE = `usage:
  protomesh-ws sub <filter> [-u url] [-v] [-C count] [--since seq] [--retained] [--token jwt]
  protomesh-ws pub <topic> <message> [-u url] [-q 0|1] [-r] [--content-type type] [--token jwt]
  protomesh-ws pub <topic> -f <file> ...       (payload bytes from a file, - for stdin)

  -u, --url           ws-edge URL (default $PROTOMESH_WS_URL or ws://127.0.0.1:8080/ws)
  -v, --verbose       sub: print "<topic> <payload>"; pub: print the stored seq
  -C, --count         sub: exit after this many messages
  -q, --qos           pub: 0 (default) or 1 (acknowledged once stored)
  -r, --retain        pub: store as the topic's retained message
      --since         sub: recover from this stream position
      --retained      sub: deliver retained messages first
      --content-type  pub: MIME type carried to subscribers
      --token         JWT (default $PROTOMESH_TOKEN)
      --timeout       pub: ms to wait for the ack (default 10000)`;

const options = {
  url: { type: 'string', short: 'u' },
  verbose: { type: 'boolean', short: 'v' },
  count: { type: 'string', short: 'C' },
  qos: { type: 'string', short: 'q' },
  retain: { type: 'boolean', short: 'r' },
  since: { type: 'string' },
  retained: { type: 'boolean' },
  'content-type': { type: 'string' },
  token: { type: 'string' },
  timeout: { type: 'string' },
  file: { type: 'string', short: 'f' },
  help: { type: 'boolean', short: 'h' },
};

function fail(message, code = 2) {
  process.stderr.write(`protomesh-ws: ${message}\n`);
  process.exit(code);
}

let parsed;
try {
  parsed = parseArgs({ options, allowPositionals: true });
} catch (error) {
  fail(`${error.message}\n${USAGE}`);
}
const { values, positionals } = parsed;
if (values.help || positionals.length === 0) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(values.help ? 0 : 2);
}

const [command, ...args] = positionals;
const url = values.url ?? process.env.PROTOMESH_WS_URL ?? 'ws://127.0.0.1:8080/ws';
const token = values.token ?? process.env.PROTOMESH_TOKEN;
const client = new ProtomeshClient({
  url,
  WebSocket,
  token,
  reconnect: command === 'sub' ? { initialDelayMs: 250, maxDelayMs: 5_000 } : false,
});
client.on('error', (error) => process.stderr.write(`protomesh-ws: ${error.code}: ${error.message}\n`));

async function subscribe(filter) {
  const limit = values.count === undefined ? Number.POSITIVE_INFINITY : Number(values.count);
  if (!(limit > 0)) fail('--count must be a positive number');
  const since = values.since === undefined ? undefined : Number(values.since);
  if (since !== undefined && !Number.isInteger(since)) fail('--since must be an integer');
  let received = 0;
  client.on('close', (event) => {
    if (!event.reconnect) fail(`connection closed: ${event.code} ${event.reason}`, 1);
  });
  await client.connect();
  const sub = client.subscribe(filter, {
    since,
    retained: values.retained,
    onMessage: (message) => {
      const payload = Buffer.from(message.payload);
      process.stdout.write(values.verbose ? `${message.topic} ` : '');
      process.stdout.write(payload);
      process.stdout.write('\n');
      received += 1;
      if (received >= limit) void client.close().then(() => process.exit(0));
    },
  });
  await sub.ready;
}

async function publish(topic, message) {
  let payload;
  if (values.file !== undefined) payload = new Uint8Array(readFileSync(values.file === '-' ? 0 : values.file));
  else if (message !== undefined) payload = message;
  else fail(`pub needs a message or -f <file>\n${USAGE}`);
  const qos = values.qos === undefined ? 0 : Number(values.qos);
  if (qos !== 0 && qos !== 1) fail('--qos must be 0 or 1');
  await client.connect();
  const ack = await client.publish(topic, payload, {
    qos,
    retain: values.retain,
    contentType: values['content-type'],
    timeoutMs: values.timeout === undefined ? undefined : Number(values.timeout),
  });
  if (values.verbose && ack.seq !== undefined)
    process.stdout.write(`seq ${ack.seq}${ack.duplicate ? ' (duplicate)' : ''}\n`);
  await client.close();
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => void client.close().then(() => process.exit(0)));
}

try {
  if (command === 'sub' && args.length === 1) await subscribe(args[0]);
  else if (command === 'pub' && (args.length === 2 || (args.length === 1 && values.file !== undefined)))
    await publish(args[0], args[1]);
  else fail(USAGE);
} catch (error) {
  fail(`${error.code ?? 'error'}: ${error.message}`, 1);
}
