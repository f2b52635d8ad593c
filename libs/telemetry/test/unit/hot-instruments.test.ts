import { ServiceMetrics } from '@protomesh/telemetry';
import { describe, expect, it } from 'vitest';

const QOS0 = Object.freeze({ tier: 'mqtt', qos: 0 });
const QOS1 = Object.freeze({ tier: 'mqtt', qos: 1 });
const LATENCY = Object.freeze({ tier: 'mqtt', origin: 'mqtt', qos: 0 });

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('per-message instruments', () => {
  it('keep counter totals exact while adding them to the SDK once per turn', async () => {
    const metrics = new ServiceMetrics('mqtt-edge');
    for (let i = 0; i < 1000; i++) metrics.instruments.messagesIn.add(1, i % 4 === 0 ? QOS1 : QOS0);
    await nextTurn();
    for (let i = 0; i < 10; i++) metrics.instruments.messagesIn.add(1, QOS0);
    // Added in this turn and not yet handed over: render hands them over first.
    const text = await metrics.render();
    await metrics.shutdown();
    expect(text).toMatch(/protomesh_messages_in_total\{tier="mqtt",qos="0"\} 760/);
    expect(text).toMatch(/protomesh_messages_in_total\{tier="mqtt",qos="1"\} 250/);
  });

  it('record one latency sample per attribute set and turn, every value when each arrives in its own turn', async () => {
    const metrics = new ServiceMetrics('mqtt-edge');
    for (let i = 0; i < 100; i++) metrics.instruments.deliveryLatency.record(0.001, LATENCY);
    await nextTurn();
    for (let turn = 0; turn < 5; turn++) {
      metrics.instruments.deliveryLatency.record(0.002, LATENCY);
      await nextTurn();
    }
    const text = await metrics.render();
    await metrics.shutdown();
    expect(text).toMatch(/protomesh_delivery_latency_seconds_count\{tier="mqtt",origin="mqtt",qos="0"\} 6/);
    expect(text).toMatch(/protomesh_delivery_latency_seconds_sum\{tier="mqtt",origin="mqtt",qos="0"\} 0\.011/);
  });
});
