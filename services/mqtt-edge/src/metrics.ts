import type { MeshInstruments, ServiceMetrics } from '@protomesh/telemetry';

/** A monotonic counter, typed through the shared instruments (no direct OpenTelemetry dependency). */
type Counter = MeshInstruments['messagesIn'];

/** Why an outbound message was not delivered to one client. */
export type DropReason = 'backpressure' | 'expired' | 'too-large' | 'in-flight-full';

/** The shared mesh instruments plus the ones only mqtt-edge has. */
export interface MqttInstruments extends MeshInstruments {
  /** Deliveries skipped for one client; attributes `tier`, `reason` ({@link DropReason}). */
  readonly dropped: Counter;
  /** Client messages the backbone did not take (publish threw or append failed); attribute `tier`. */
  readonly storeFailures: Counter;
  /** Clients closed because they read too slowly; attribute `tier`. */
  readonly slowClients: Counter;
}

/** Creates the mqtt-edge instruments on a service's meter (once per broker). */
export function createMqttInstruments(metrics: ServiceMetrics): MqttInstruments {
  return {
    ...metrics.instruments,
    dropped: metrics.meter.createCounter('protomesh_messages_dropped', {
      description: 'Deliveries skipped for one client (backpressure, expiry, size, in-flight window)',
    }),
    storeFailures: metrics.meter.createCounter('protomesh_store_failures', {
      description: 'Client messages the backbone did not take',
    }),
    slowClients: metrics.meter.createCounter('protomesh_slow_clients_closed', {
      description: 'Client connections closed because they read too slowly',
    }),
  };
}

/** Metric attributes of the MQTT tier, one frozen object each, so the hot path allocates none. */
export const TIER_ATTRIBUTES = Object.freeze({ tier: 'mqtt' });
/** `{ tier: 'mqtt', qos }` by QoS, for the message counters. */
export const QOS_ATTRIBUTES: readonly Readonly<{ tier: string; qos: number }>[] = [0, 1, 2].map((qos) =>
  Object.freeze({ tier: 'mqtt', qos }),
);
