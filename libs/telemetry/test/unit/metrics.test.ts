import { DELIVERY_LATENCY_BUCKETS_S, deliveryLatencySeconds, ServiceMetrics } from '@protomesh/telemetry';
import { describe, expect, it } from 'vitest';

describe('mesh instruments', () => {
  it('exports latency, redeliveries, auth failures and slow consumers on /metrics, beside the existing names', async () => {
    const metrics = new ServiceMetrics('ws-edge');
    const { instruments } = metrics;
    instruments.deliveryLatency.record(deliveryLatencySeconds(1_000, 1_003)!, { tier: 'ws', origin: 'mqtt', qos: '1' });
    instruments.redeliveries.add(2, { tier: 'ws', consumer: 'recovery' });
    instruments.authFailures.add(1, { tier: 'ws', reason: 'expired' });
    instruments.slowConsumersDropped.add(1, { tier: 'ws' });
    instruments.messagesIn.add(1, { tier: 'ws', qos: '0' });
    const text = await metrics.render();
    await metrics.shutdown();
    expect(text).toMatch(/protomesh_delivery_latency_seconds_bucket\{tier="ws",origin="mqtt",qos="1",le="0.0025"\} 0/);
    expect(text).toMatch(/protomesh_delivery_latency_seconds_bucket\{tier="ws",origin="mqtt",qos="1",le="0.005"\} 1/);
    expect(text).toMatch(/protomesh_delivery_latency_seconds_count\{[^}]*\} 1/);
    expect(text).toMatch(/protomesh_jetstream_redeliveries_total\{tier="ws",consumer="recovery"\} 2/);
    expect(text).toMatch(/protomesh_auth_failures_total\{tier="ws",reason="expired"\} 1/);
    expect(text).toMatch(/protomesh_slow_consumers_dropped_total\{tier="ws"\} 1/);
    expect(text).toMatch(/protomesh_messages_in_total\{tier="ws",qos="0"\} 1/);
    expect(metrics.pushing).toBe(false);
  });

  it('uses buckets from sub-millisecond to seconds', () => {
    expect(DELIVERY_LATENCY_BUCKETS_S[0]).toBeLessThan(0.001);
    expect(DELIVERY_LATENCY_BUCKETS_S.at(-1)).toBeGreaterThanOrEqual(5);
    expect([...DELIVERY_LATENCY_BUCKETS_S].sort((a, b) => a - b)).toEqual([...DELIVERY_LATENCY_BUCKETS_S]);
  });

  it('measures latency from the publish timestamp, clamping clock skew to 0 and skipping messages without one', () => {
    expect(deliveryLatencySeconds(10_000, 10_250)).toBe(0.25);
    expect(deliveryLatencySeconds(10_000, 9_990)).toBe(0);
    expect(deliveryLatencySeconds(undefined, 10_000)).toBeUndefined();
  });
});
