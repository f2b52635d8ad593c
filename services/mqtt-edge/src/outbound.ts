/**
 * Outbound QoS flows of one connection: packet identifiers, the client's Receive Maximum
 * window [MQTT-3.3.4-9], a bounded queue behind it, QoS 1 (PUBLISH → PUBACK) and QoS 2
 * (PUBLISH → PUBREC → PUBREL → PUBCOMP, MQTT 5 §4.3.3) and, for persistent sessions, the
 * QoS 2 state that must survive the connection.
 *
 * A delivery may come from a JetStream consumer (`stored`): it is acknowledged to the
 * stream only once the client has taken responsibility for it (PUBACK, or PUBREC after the
 * PUBREL state is stored), and handed back (`nak`) when the connection ends first, so the
 * next connection of the session gets it again with DUP set [MQTT-4.4.0-1].
 *
 * For persistent sessions a QoS 2 delivery's packet identifier is stored with its stream
 * sequence before the PUBLISH leaves, so a redelivery after a reconnect — on any replica —
 * carries the original identifier and a receiver that already has it does not deliver it
 * twice; PUBREC is answered with PUBREL only once the `r` phase is stored.
 */
import type { DeliveredMessage } from '@protomesh/backbone';
import type { MessageMeta } from '@protomesh/envelope';
import type { PublishCache } from './publish-encoder.js';
import type { MutableSessionRecord, StoredOutbound } from './session/record.js';

/** Largest packet identifier; identifiers run 1..65,535 (MQTT 5 §2.2.1). */
export const MAX_PACKET_ID = 65_535;
/** Delay before a delivery that found the queue full is offered again by its consumer, in ms. */
const QUEUE_FULL_NAK_MS = 1_000;

/** One message on its way to the client. */
export interface Outgoing {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly meta: MessageMeta;
  /** MQTT 5 Subscription Identifiers of the matching subscriptions. */
  readonly subscriptionIds?: readonly number[];
  /** The stream delivery behind it, acknowledged once the client has the message. */
  stored?: DeliveredMessage;
  /** Keep the QoS 2 state in the session record (a persistent session's own consumer). */
  readonly persistent?: boolean;
  /** PUBLISH bytes shared by every local recipient of the same backbone message. */
  readonly cache?: PublishCache;
}

/** What the outbound flows need from their connection. */
export interface OutboundHost {
  readonly maxQueued: number;
  /** Sends a PUBLISH; 'dropped' = not sendable to this client (behave as if sent), 'closed' = connection gone. */
  sendPublish(message: Outgoing, id: number | undefined, dup: boolean): 'sent' | 'dropped' | 'closed';
  sendPubrel(id: number, reasonCode?: number): void;
  /** Stores a change to the session record (persistent sessions only). */
  updateSession(mutate: (record: MutableSessionRecord) => void): Promise<void>;
  dropped(reason: 'expired' | 'in-flight-full'): void;
  failed(error: unknown): void;
}

interface InFlight {
  readonly id: number;
  readonly qos: 1 | 2;
  phase: 'publish' | 'pubrel';
  message: Outgoing | undefined;
}

export class Outbound {
  readonly #host: OutboundHost;
  readonly #inFlight = new Map<number, InFlight>();
  /** Deliveries waiting for room in the window, oldest first. */
  #queue: Outgoing[] = [];
  /** Identifiers of stored QoS 2 deliveries awaiting redelivery: stream sequence → identifier. */
  readonly #reserved = new Map<number, number>();
  readonly #reservedIds = new Set<number>();
  /** Stream sequences whose QoS 2 flow reached PUBREL on an earlier connection (see `resume`). */
  readonly #released = new Set<number>();
  #nextId = 1;
  #receiveMaximum = MAX_PACKET_ID;
  /** Sends waiting behind a session write, to keep delivery order. */
  #tail: Promise<void> | undefined;
  #tailDepth = 0;
  #closed = false;

  constructor(host: OutboundHost) {
    this.#host = host;
  }

  /** The client's Receive Maximum (MQTT 5; 65,535 for 3.1.1). */
  set receiveMaximum(value: number) {
    this.#receiveMaximum = value;
  }

  /** QoS 1/2 deliveries awaiting acknowledgement. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Deliveries queued behind the window. */
  get queued(): number {
    return this.#queue.length;
  }

  /** True when a stream delivery with this sequence is in flight or queued here. */
  holds(seq: number, stream: string): Outgoing | undefined {
    for (const entry of this.#inFlight.values()) {
      const stored = entry.message?.stored;
      if (stored && stored.seq === seq && stored.stream === stream) return entry.message;
    }
    return this.#queue.find((m) => m.stored?.seq === seq && m.stored.stream === stream);
  }

  /**
   * Restores a persistent session's QoS 2 state: PUBREL again for every `r` entry, and the
   * identifiers of `p` entries kept for their redelivery [MQTT-4.4.0-1].
   */
  resume(out2: Readonly<Record<string, StoredOutbound>>): void {
    for (const [key, entry] of Object.entries(out2)) {
      const id = Number(key);
      if (entry.phase === 'r') {
        this.#inFlight.set(id, { id, qos: 2, phase: 'pubrel', message: undefined });
        // The client has this message. If the replica that sent it died before its stream ack
        // reached the server, the message is redelivered here: it must not go out again.
        this.#released.add(entry.seq);
        this.#host.sendPubrel(id);
      } else {
        this.#reserved.set(entry.seq, id);
        this.#reservedIds.add(id);
      }
    }
  }

  /** Sends `message` now or queues it behind the Receive Maximum window. */
  enqueue(message: Outgoing): void {
    if (this.#closed) {
      message.stored?.nak();
      return;
    }
    if (message.qos === 0) {
      this.#host.sendPublish(message, undefined, false);
      message.stored?.ack();
      return;
    }
    if (this.#inFlight.size >= this.#receiveMaximum || this.#queue.length > 0) {
      if (this.#queue.length >= this.#host.maxQueued) {
        // Bounded queue: a stored message comes back later; a live one is dropped.
        if (message.stored) message.stored.nak(QUEUE_FULL_NAK_MS);
        else this.#host.dropped('in-flight-full');
        return;
      }
      this.#queue.push(message);
      return;
    }
    this.#start(message);
  }

  #start(message: Outgoing): void {
    const expiresAt = message.meta.expiresAt;
    if (expiresAt !== undefined && expiresAt <= Date.now()) {
      // [MQTT-3.3.2-5]: expired while queued.
      this.#host.dropped('expired');
      message.stored?.ack();
      return;
    }
    const qos = message.qos as 1 | 2;
    const stored = message.stored;
    if (qos === 2 && stored && this.#released.has(stored.seq)) {
      // Exactly once [MQTT-4.3.3]: its flow had reached PUBREL before the session resumed here.
      this.#released.delete(stored.seq);
      stored.ack();
      return;
    }
    let id: number | undefined;
    let dup = (stored?.deliveryCount ?? 1) > 1;
    let write: Promise<void> | undefined;
    if (qos === 2 && message.persistent && stored) {
      id = this.#reserved.get(stored.seq);
      if (id !== undefined) {
        this.#reserved.delete(stored.seq);
        this.#reservedIds.delete(id);
        dup = true;
      } else {
        id = this.#allocate(stored.seq);
        const entry: StoredOutbound = { seq: stored.seq, phase: 'p' };
        const key = String(id);
        write = this.#host.updateSession((record) => {
          record.out2[key] = entry;
        });
      }
    }
    // A stored delivery of a persistent session takes the identifier its stream sequence gives,
    // so a redelivery on resume (any replica) carries the identifier it had [MQTT-4.4.0-1].
    id ??= this.#allocate(message.persistent ? stored?.seq : undefined);
    const flight: InFlight = { id, qos, phase: 'publish', message };
    this.#inFlight.set(id, flight);
    if (write === undefined && this.#tail === undefined) {
      this.#transmit(flight, dup);
      return;
    }
    // Keep order: this PUBLISH leaves after the ones waiting for the session write.
    this.#tailDepth += 1;
    const previous = this.#tail ?? Promise.resolve();
    this.#tail = previous
      .then(() => write)
      .then(
        () => this.#transmit(flight, dup),
        (error: unknown) => {
          this.#inFlight.delete(flight.id);
          this.#host.failed(error);
        },
      )
      .finally(() => {
        this.#tailDepth -= 1;
        if (this.#tailDepth === 0) this.#tail = undefined;
      });
  }

  #transmit(flight: InFlight, dup: boolean): void {
    if (this.#closed || this.#inFlight.get(flight.id) !== flight) return;
    const result = this.#host.sendPublish(flight.message!, flight.id, dup);
    if (result === 'dropped') {
      // [MQTT-3.1.2-25]: behave as if it was delivered.
      this.#complete(flight);
    }
  }

  /**
   * An identifier not in use [MQTT-2.2.1-4]: the one stream sequence `seq` maps to when given
   * and free (the same on every replica and after a reconnect), else the next free one.
   */
  #allocate(seq?: number): number {
    if (seq !== undefined) {
      const id = ((seq - 1) % MAX_PACKET_ID) + 1;
      if (!this.#inFlight.has(id) && !this.#reservedIds.has(id)) return id;
    }
    for (let tries = 0; tries < MAX_PACKET_ID; tries++) {
      const id = this.#nextId;
      this.#nextId = id === MAX_PACKET_ID ? 1 : id + 1;
      if (!this.#inFlight.has(id) && !this.#reservedIds.has(id)) return id;
    }
    throw new Error('no free packet identifier');
  }

  /** PUBACK: the QoS 1 delivery is done (any reason code ends the flow, MQTT 5 §4.3.2). */
  onPuback(id: number): void {
    const flight = this.#inFlight.get(id);
    if (flight?.qos !== 1) return; // unknown identifiers are ignored
    this.#complete(flight);
  }

  /**
   * PUBREC: the client has the QoS 2 message. A failure reason (≥ 0x80) ends the flow
   * [MQTT-4.3.3-?]; otherwise PUBREL follows, after the `r` phase is stored for persistent
   * sessions. Returns false for an identifier not in flight (the caller answers 0x92).
   */
  onPubrec(id: number, reasonCode: number | undefined): boolean {
    const flight = this.#inFlight.get(id);
    if (flight?.qos !== 2) return false;
    if (flight.phase === 'pubrel') {
      this.#host.sendPubrel(id); // a repeated PUBREC: repeat PUBREL
      return true;
    }
    const message = flight.message!;
    const key = String(id);
    if (reasonCode !== undefined && reasonCode >= 0x80) {
      if (message.persistent) {
        void this.#host
          .updateSession((record) => {
            delete record.out2[key];
          })
          .catch(() => undefined);
      }
      this.#complete(flight);
      return true;
    }
    flight.phase = 'pubrel';
    if (message.persistent && message.stored) {
      const seq = message.stored.seq;
      this.#host
        .updateSession((record) => {
          record.out2[key] = { seq, phase: 'r' };
        })
        .then(
          () => {
            message.stored?.ack();
            flight.message = undefined;
            if (!this.#closed) this.#host.sendPubrel(id);
          },
          (error: unknown) => this.#host.failed(error),
        );
      return true;
    }
    message.stored?.ack();
    flight.message = undefined;
    this.#host.sendPubrel(id);
    return true;
  }

  /** PUBCOMP: the QoS 2 exchange is over; frees the identifier. */
  onPubcomp(id: number, persistent: boolean): void {
    const flight = this.#inFlight.get(id);
    if (flight?.qos !== 2 || flight.phase !== 'pubrel') return;
    this.#inFlight.delete(id);
    if (persistent) {
      const key = String(id);
      void this.#host
        .updateSession((record) => {
          delete record.out2[key];
        })
        .catch(() => undefined);
    }
    this.#pump();
  }

  #complete(flight: InFlight): void {
    this.#inFlight.delete(flight.id);
    flight.message?.stored?.ack();
    this.#pump();
  }

  /** Starts queued deliveries while the window has room. */
  #pump(): void {
    while (!this.#closed && this.#queue.length > 0 && this.#inFlight.size < this.#receiveMaximum) {
      this.#start(this.#queue.shift()!);
    }
  }

  /**
   * The connection ended: stream deliveries not yet taken by the client go back to their
   * consumers at once (redelivered with DUP to the session's next connection).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const flight of this.#inFlight.values()) {
      if (flight.phase === 'publish') flight.message?.stored?.nak();
    }
    for (const message of this.#queue) message.stored?.nak();
    this.#inFlight.clear();
    this.#queue = [];
  }
}
