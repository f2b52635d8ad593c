// The demo page: connect, subscribe to a filter, watch live messages with a rate counter,
// publish. Uses the client SDK served by ws-edge as ES modules (/sdk/index.js).
import { ProtomeshClient } from '/sdk/index.js';

const $ = (id) => document.getElementById(id);
const MAX_SHOWN = 200;
const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
$('url').value = `${scheme}//${location.host}${window.PROTOMESH_WS_PATH ?? '/ws'}`;

let client;
let count = 0;
/** Arrival times of the last second's messages, for the rate. */
const recent = [];

function status(text, state) {
  $('status').textContent = text;
  $('status').dataset.state = state;
}

function show(message) {
  count += 1;
  recent.push(performance.now());
  const item = document.createElement('li');
  const topic = document.createElement('span');
  topic.className = 'topic';
  topic.textContent = message.topic;
  const body = document.createElement('span');
  body.className = 'payload';
  body.textContent = payloadText(message);
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.textContent = [
    `qos ${message.qos}`,
    message.seq && `seq ${message.seq}`,
    message.origin,
    message.retain && 'retained',
  ]
    .filter(Boolean)
    .join(' · ');
  item.append(topic, body, meta);
  const list = $('messages');
  list.prepend(item);
  while (list.childElementCount > MAX_SHOWN) list.lastElementChild.remove();
}

function payloadText(message) {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(message.payload);
  } catch {
    return `<${message.payload.byteLength} bytes>`;
  }
}

setInterval(() => {
  const cutoff = performance.now() - 1000;
  while (recent.length > 0 && recent[0] < cutoff) recent.shift();
  $('rate').textContent = String(recent.length);
  $('count').textContent = String(count);
}, 250);

$('connect').addEventListener('click', async () => {
  if (client) await client.close();
  const token = $('token').value.trim();
  client = new ProtomeshClient({ url: $('url').value, token: token || undefined });
  client.on('state', (state) => status(state, state === 'open' ? 'open' : state === 'closed' ? 'closed' : 'busy'));
  client.on('message', show);
  client.on('close', (event) => {
    if (!event.reconnect) status(`closed ${event.code} ${event.reason}`, 'closed');
  });
  client.on('error', (error) => ($('pub-result').textContent = `${error.code}: ${error.message}`));
  try {
    await client.connect();
    status('open', 'open');
    $('subscribe').disabled = false;
    $('publish').disabled = false;
  } catch (error) {
    status(`failed: ${error.message}`, 'closed');
  }
});

$('subscribe').addEventListener('click', async () => {
  const filter = $('filter').value;
  try {
    const result = await client.subscribe(filter).ready;
    $('subscriptions').textContent =
      `subscribed to ${[...client.subscriptions.keys()].join(', ')} (from seq ${result.seq})`;
  } catch (error) {
    $('subscriptions').textContent = `${error.code}: ${error.message}`;
  }
});

$('publish').addEventListener('click', async () => {
  $('pub-result').textContent = '…';
  try {
    const ack = await client.publish($('pub-topic').value, $('pub-message').value, {
      qos: Number($('pub-qos').value),
      retain: $('pub-retain').checked,
    });
    $('pub-result').textContent = ack.seq === undefined ? 'sent' : `stored at seq ${ack.seq}`;
  } catch (error) {
    $('pub-result').textContent = `${error.code}: ${error.message}`;
  }
});
