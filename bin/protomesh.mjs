#!/usr/bin/env node
// Protomesh launcher: `protomesh` runs the whole mesh (mqtt-edge, ws-edge, bridge) in one
// process — on the embedded backbone when NATS_URL is unset, else on NATS. `protomesh <service>…`
// runs only the named services, which is how each tier runs on its own against NATS (and how
// the container image picks its service). Configuration: environment + PROTOMESH_CONFIG (YAML).
import { runMain } from '@protomesh/runtime';

// The bridge starts first, so its durable consumers exist before the edges accept publishes.
const SERVICES = {
  bridge: async () => (await import('@protomesh/bridge')).startBridge,
  'mqtt-edge': async () => (await import('@protomesh/mqtt-edge')).startMqttEdge,
  'ws-edge': async () => (await import('@protomesh/ws-edge')).startWsEdge,
};

const USAGE = `usage: protomesh [all | ${Object.keys(SERVICES).join(' | ')} ...]`;

const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const names = args.length === 0 || args.includes('all') ? Object.keys(SERVICES) : args;
const unknown = names.filter((name) => !(name in SERVICES));
if (unknown.length > 0) {
  process.stderr.write(`protomesh: unknown service ${unknown.join(', ')}\n${USAGE}\n`);
  process.exit(2);
}
if (!process.env.NATS_URL && names.length < Object.keys(SERVICES).length) {
  process.stderr.write(
    'protomesh: warning: NATS_URL is unset, so these services use a private embedded backbone and cannot reach services in other processes\n',
  );
}
const entries = await Promise.all(names.map(async (name) => ({ name, start: await SERVICES[name]() })));
await runMain(entries);
