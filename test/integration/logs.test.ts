// Logs at the default level: one line per connection lifecycle event, never one per message
// (issue 6), and every line is JSON carrying the service that wrote it.
import { Writable } from 'node:stream';
import { createEmbeddedBackbone } from '@protomesh/backbone';
import { startBridge } from '@protomesh/bridge';
import { startMqttEdge } from '@protomesh/mqtt-edge';
import { startInProcess, uniqueName, waitFor } from '@protomesh/test-support';
import { startWsEdge } from '@protomesh/ws-edge';
import mqtt from 'mqtt';
import { expect, it } from 'vitest';
import { TestWsClient } from '../helpers/ws-client.js';

it('logs connection lifecycle events at info, and nothing per message', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const backbone = createEmbeddedBackbone();
  const mesh = await startInProcess(
    [
      { name: 'bridge', start: startBridge },
      { name: 'mqtt-edge', start: startMqttEdge },
      { name: 'ws-edge', start: startWsEdge },
    ],
    { prefix: uniqueName(), backbone, env: { LOG_LEVEL: 'info' }, logDestination: sink },
  );
  try {
    const ws = await TestWsClient.connect(`ws://127.0.0.1:${mesh.services[2]!.ports.ws}/ws`);
    await ws.subscribe('logs/#');
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mesh.services[1]!.ports.mqtt}`, {
      protocolVersion: 5,
      clientId: 'log-probe',
      reconnectPeriod: 0,
    });
    const before = lines.length;
    for (let n = 0; n < 200; n++) await client.publishAsync('logs/x', String(n), { qos: n % 2 ? 1 : 0 });
    await waitFor(() => ws.messages.length === 200, '200 deliveries');
    // 200 messages through three services wrote no log line at the default level.
    expect(lines.slice(before)).toEqual([]);
    await client.endAsync();
    await ws.close();
    await waitFor(() => lines.length >= before + 2, 'the two disconnect lines');
  } finally {
    await mesh.stop();
    await backbone.close();
  }
  const byService = (service: string) => lines.filter((line) => line.service === service);
  // Connect and disconnect of each client are logged by its edge, with the client named.
  expect(byService('mqtt-edge').some((line) => JSON.stringify(line).includes('log-probe'))).toBe(true);
  expect(byService('mqtt-edge').length).toBeGreaterThanOrEqual(2);
  expect(byService('ws-edge').length).toBeGreaterThanOrEqual(2);
  for (const line of lines) {
    expect(line.level).toBeGreaterThanOrEqual(30);
    expect(typeof line.service).toBe('string');
  }
  expect(lines.length).toBeLessThan(40);
});
