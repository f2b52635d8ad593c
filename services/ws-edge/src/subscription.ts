import type { ConsumerHandle, DeliveredMessage } from '@protomesh/backbone';
import type { FrameSet, FrameSink } from './frames.js';

/** Live class-1 messages held for one subscription while its history is read, before it is closed as a slow consumer. */
export const MAX_RECOVERY_BUFFER = 10_000;

/** The connection side of a subscription. */
export interface SubscriptionOwner extends FrameSink {
  /** Live messages piled up past {@link MAX_RECOVERY_BUFFER} during a recovery. */
  recoveryOverflow(): void;
}

/**
 * One filter subscribed by one connection. Live class-1 messages pass a floor (positions
 * the client already has are not sent again) and, while a recovery reads history, wait in
 * a buffer so history and live messages reach the client in stream order, once each.
 * An acknowledged subscription (`ack: true`) gets its class-1 messages from its own
 * JetStream consumers instead, and keeps them until the client acks.
 */
export class WsSubscription {
  readonly filter: string;
  readonly owner: SubscriptionOwner;
  /** Client acks: class-1 messages come from `consumers`, not from the shared live stream. */
  readonly acked: boolean;
  /** Delivered and not yet acked, by stream sequence (acked subscriptions). */
  readonly unacked: Map<number, DeliveredMessage> | undefined;
  /** The acked subscription's consumers (one per stored subject). */
  consumers: ConsumerHandle[] | undefined;
  /** False once unsubscribed or the connection closed. */
  active = true;
  /** Class-1 messages at or below this position are not sent (the client has them). */
  #floor = 0;
  #buffer: FrameSet[] | undefined;

  constructor(owner: SubscriptionOwner, filter: string, acked: boolean) {
    this.owner = owner;
    this.filter = filter;
    this.acked = acked;
    this.unacked = acked ? new Map() : undefined;
  }

  /** True while a recovery holds live messages back. */
  get recovering(): boolean {
    return this.#buffer !== undefined;
  }

  /** A live message for this subscription; false when nothing was written. */
  deliverLive(frames: FrameSet): boolean {
    const seq = frames.seq;
    if (seq === undefined) return frames.writeTo(this.owner); // QoS 0: no position, no recovery
    if (this.acked || seq <= this.#floor) return false;
    if (this.#buffer !== undefined) {
      this.#buffer.push(frames);
      if (this.#buffer.length > MAX_RECOVERY_BUFFER) this.owner.recoveryOverflow();
      return false;
    }
    return frames.writeTo(this.owner);
  }

  /** Holds live class-1 messages back until {@link endRecovery}. */
  beginRecovery(): void {
    this.#buffer = [];
  }

  /**
   * History up to `floor` has been sent: writes the held-back messages after it, in order,
   * and from now on delivers live. Returns the newest position the client now has.
   */
  endRecovery(floor: number): number {
    const held = this.#buffer ?? [];
    this.#buffer = undefined;
    this.#floor = Math.max(this.#floor, floor);
    for (const frames of held) {
      const seq = frames.seq!;
      if (seq <= this.#floor) continue;
      this.#floor = seq;
      frames.writeTo(this.owner);
    }
    return this.#floor;
  }

  /** Stops the acked subscription's consumers (unacked messages return to JetStream). */
  async stopConsumers(): Promise<void> {
    const consumers = this.consumers ?? [];
    this.consumers = undefined;
    this.unacked?.clear();
    await Promise.allSettled(consumers.map((consumer) => consumer.stop()));
  }
}
