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

/** Attributes of the auth failure counter by reason (docs/telemetry.md). */
export const AUTH_FAILURE = Object.freeze({
  badCredentials: Object.freeze({ tier: 'mqtt', reason: 'bad_credentials' }),
  notAuthorized: Object.freeze({ tier: 'mqtt', reason: 'not_authorized' }),
  aclDenied: Object.freeze({ tier: 'mqtt', reason: 'acl_denied' }),
});

/**
 * Message and byte counts of the hot path, added to the counters once per event-loop turn.
 * The mesh counters batch per turn themselves (telemetry's hot-instruments); counting in
 * fixed slots here skips even their per-call map lookup, four per message on this path.
 */
export class MessageCounts {
  readonly #instruments: MqttInstruments;
  readonly #in = [0, 0, 0];
  readonly #out = [0, 0, 0];
  #bytesIn = 0;
  #bytesOut = 0;
  #scheduled = false;

  constructor(instruments: MqttInstruments) {
    this.#instruments = instruments;
  }

  /** One message received from a client at `qos` with `bytes` of payload. */
  in(qos: number, bytes: number): void {
    this.#in[qos]! += 1;
    this.#bytesIn += bytes;
    this.#schedule();
  }

  /** One message sent to a client at `qos` with `bytes` of payload. */
  out(qos: number, bytes: number): void {
    this.#out[qos]! += 1;
    this.#bytesOut += bytes;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.flush);
  }

  /** Adds what was counted since the last flush to the instruments. */
  flush = (): void => {
    this.#scheduled = false;
    const instruments = this.#instruments;
    for (let qos = 0; qos < 3; qos++) {
      if (this.#in[qos]! > 0) instruments.messagesIn.add(this.#in[qos]!, QOS_ATTRIBUTES[qos]);
      if (this.#out[qos]! > 0) instruments.messagesOut.add(this.#out[qos]!, QOS_ATTRIBUTES[qos]);
      this.#in[qos] = 0;
      this.#out[qos] = 0;
    }
    if (this.#bytesIn > 0) instruments.bytesIn.add(this.#bytesIn, TIER_ATTRIBUTES);
    if (this.#bytesOut > 0) instruments.bytesOut.add(this.#bytesOut, TIER_ATTRIBUTES);
    this.#bytesIn = 0;
    this.#bytesOut = 0;
  };
}
