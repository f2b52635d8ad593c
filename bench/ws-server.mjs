// Server side of bench/ws-fanout.mjs, run in its own process (so its memory is measurable):
//   node --expose-gc bench/ws-server.mjs baseline   a plain `ws` broadcast server
//   node --expose-gc bench/ws-server.mjs ws-edge    ws-edge on the embedded backbone
// It reports { port } over IPC, and answers 'mem' with heap + external bytes after a full GC.
import { createServer } from 'node:http';
import { createEmbeddedBackbone, meshLayout, provisionMesh } from '@protomesh/backbone';
import { loadConfig } from '@protomesh/config';
import { ServiceMetrics, silentLogger } from '@protomesh/telemetry';
import { createWsEdge } from '@protomesh/ws-edge';
import { WebSocketServer } from 'ws';

const mode = process.argv[2];
let port;

if (mode === 'baseline') {
  // The usual broadcast pattern: the publisher's message, as received, to every other client
  // (serialized once: the same buffer goes to all).
  const server = createServer();
  const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 });
  const subscribers = new Set();
  wss.on('connection', (socket, request) => {
    if (request.url === '/pub') {
      socket.on('message', (data, isBinary) => {
        for (const client of subscribers) client.send(data, { binary: isBinary });
      });
      return;
    }
    subscribers.add(socket);
    socket.on('close', () => subscribers.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = server.address().port;
} else if (mode === 'ws-edge') {
  const config = loadConfig({
    env: { MESH_PREFIX: 'bench', WS_PUBLISH_RATE: '0', WS_MAX_SUBSCRIPTIONS: '10', WS_DEMO_PAGE: 'false' },
    file: '',
  });
  const backbone = createEmbeddedBackbone();
  const layout = meshLayout(config.prefix);
  await provisionMesh(backbone, layout);
  const app = createWsEdge({
    config,
    backbone,
    layout,
    logger: silentLogger(),
    metrics: new ServiceMetrics('ws-edge'),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = app.server.address().port;
} else {
  process.stderr.write('usage: ws-server.mjs baseline | ws-edge\n');
  process.exit(2);
}

process.on('message', (message) => {
  if (message !== 'mem') return;
  for (let i = 0; i < 3; i++) globalThis.gc();
  const usage = process.memoryUsage();
  process.send({ mem: usage.heapUsed + usage.external });
});
process.on('disconnect', () => process.exit(0));
process.send({ port });
