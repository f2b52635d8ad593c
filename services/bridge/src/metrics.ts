import type { ServiceMetrics } from '@protomesh/telemetry';
import type { Tier } from '@protomesh/topic-map';

type Meter = ServiceMetrics['meter'];
type Counter = ReturnType<Meter['createCounter']>;
type ObservableGauge = ReturnType<Meter['createObservableGauge']>;
type Observer = Parameters<Parameters<ObservableGauge['addCallback']>[0]>[0];

/** What happened to one message on one route (the `outcome` label). */
export type Outcome = 'bridged' | 'skipped_loop' | 'expired' | 'invalid' | 'failed';

/**
 * The bridge's telemetry points: the shared tier instruments plus
 * `protomesh_bridge_messages{route, outcome}` and `protomesh_bridge_lease_held{route}`.
 */
export class BridgeMetrics {
  readonly #service: ServiceMetrics;
  readonly #messages: Counter;
  readonly #leaseHeld: ObservableGauge;
  readonly #held = new Map<string, boolean>();
  readonly #observeLeases = (result: Observer) => {
    for (const [route, held] of this.#held) result.observe(held ? 1 : 0, { route });
  };
  readonly #observeBackbone: (result: Observer) => void;

  constructor(service: ServiceMetrics, backboneReady: () => boolean) {
    this.#service = service;
    this.#messages = service.meter.createCounter('protomesh_bridge_messages', {
      description: 'Messages seen by a bridge route, by outcome',
    });
    this.#leaseHeld = service.meter.createObservableGauge('protomesh_bridge_lease_held', {
      description: '1 while this replica owns the route’s QoS 1 consumer',
    });
    this.#leaseHeld.addCallback(this.#observeLeases);
    this.#observeBackbone = (result) => result.observe(backboneReady() ? 1 : 0);
    service.instruments.backboneConnected.addCallback(this.#observeBackbone);
  }

  /** Counts one message on `route` with `outcome`. */
  outcome(route: string, outcome: Outcome): void {
    this.#messages.add(1, { route, outcome });
  }

  /** A message taken from the source tier. */
  received(tier: Tier, qos: '0' | '1', bytes: number): void {
    this.#service.instruments.messagesIn.add(1, { tier, qos });
    this.#service.instruments.bytesIn.add(bytes, { tier });
  }

  /** A message handed to (QoS 0) or stored in (QoS 1) the target tier. */
  sent(tier: Tier, qos: '0' | '1', bytes: number): void {
    this.#service.instruments.messagesOut.add(1, { tier, qos });
    this.#service.instruments.bytesOut.add(bytes, { tier });
  }

  /** Whether this replica runs `route`'s QoS 1 consumer (the lease gauge). */
  leaseHeld(route: string, held: boolean): void {
    this.#held.set(route, held);
  }

  /** Detaches the observable callbacks (the metrics may outlive this bridge). */
  detach(): void {
    this.#leaseHeld.removeCallback(this.#observeLeases);
    this.#service.instruments.backboneConnected.removeCallback(this.#observeBackbone);
  }
}
