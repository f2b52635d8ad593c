/**
 * Will Messages (MQTT 5 §3.1.2.5, MQTT 3.1.1 §3.1.2.5). A Will is published when the
 * network connection ends without DISCONNECT 0x00 [MQTT-3.1.2-8] [MQTT-3.1.2-10] — at once,
 * or, with an MQTT 5 Will Delay Interval and a session that outlives the connection, when the
 * delay (or the session, if shorter) is over. A delayed Will is kept in the sessions bucket
 * (`w.<client id>`) with its due time, so it is published even if this replica stops, and
 * cancelled by any replica the client reconnects to in time [MQTT-3.1.3-9]. Whoever
 * deletes the key with compare-and-set publishes it, so it goes out once.
 *
 * While the connection lives its Will is also kept under `h.<replica>.<client id>` (written
 * after CONNACK, deleted when the connection ends, whatever the reason): if the replica dies
 * with the connection, another replica's sweeper finds the key of a replica whose lease is
 * gone and publishes the Will (or schedules it, with its delay) — the client's connection did
 * end without DISCONNECT.
 */
import { decodeKey, type KvBucket, KvConflictError } from '@protomesh/backbone';
import type { Logger } from '@protomesh/telemetry';
import type { QoS } from 'mqtt-packet';
import type { PublishProperties } from './properties.js';
import type { Publisher } from './publisher.js';
import { heldWillKey, willKey } from './session/record.js';

/** A Will Message from CONNECT. */
export interface WillMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: PublishProperties | undefined;
  /** MQTT 5 Will Delay Interval, in seconds (0 = publish at once). */
  readonly delay: number;
}

interface StoredWill {
  readonly clientId: string;
  readonly topic: string;
  readonly payload: string;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties?: StoredProperties;
  readonly dueAt: number;
  /** Held Wills: the delay to apply once the holding replica is found dead, in ms. */
  readonly delayMs?: number;
}

/** The Will of a live connection as stored under its held key. */
export interface HeldWill {
  readonly key: string;
  readonly revision: number;
}

type StoredProperties = Omit<PublishProperties, 'correlationData'> & { correlationData?: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Wills {
  readonly #kv: Promise<KvBucket>;
  readonly #publisher: Publisher;
  readonly #logger: Logger;
  readonly #track: (work: Promise<unknown>) => void;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #closed = false;

  constructor(kv: Promise<KvBucket>, publisher: Publisher, logger: Logger, track: (work: Promise<unknown>) => void) {
    this.#kv = kv;
    this.#publisher = publisher;
    this.#logger = logger;
    this.#track = track;
  }

  /** Publishes `will` of `clientId` now. */
  publishNow(clientId: string, will: Pick<WillMessage, 'topic' | 'payload' | 'qos' | 'retain' | 'properties'>): void {
    try {
      const stored = this.#publisher.publish(
        { topic: will.topic, qos: will.qos, retain: will.retain, clientId, properties: will.properties },
        will.payload,
      );
      if (stored) {
        this.#track(
          stored.catch((error: unknown) => this.#logger.warn({ err: error, clientId }, 'will message not stored')),
        );
      }
    } catch (error) {
      this.#logger.warn({ err: error, clientId }, 'will message not published');
    }
  }

  /** Keeps `will` until `dueAt` (epoch ms), then publishes it unless cancelled. */
  async schedule(clientId: string, will: WillMessage, dueAt: number): Promise<void> {
    const kv = await this.#kv;
    await kv.put(willKey(clientId), encoder.encode(JSON.stringify(toStored(clientId, will, dueAt))));
    this.#arm(clientId, dueAt);
  }

  /**
   * Keeps the Will of a live connection on replica `node` for the other replicas, in case this
   * one dies with the connection; `delayMs` is the delay that then applies. Undefined when it
   * could not be stored (logged: the Will still works while this replica lives).
   */
  async hold(node: string, clientId: string, will: WillMessage, delayMs: number): Promise<HeldWill | undefined> {
    const key = heldWillKey(node, clientId);
    try {
      const kv = await this.#kv;
      const stored: StoredWill = { ...toStored(clientId, will, 0), delayMs };
      return { key, revision: await kv.put(key, encoder.encode(JSON.stringify(stored))) };
    } catch (error) {
      this.#logger.debug({ err: error, clientId }, 'will not held in the store');
      return undefined;
    }
  }

  /** The connection ended (this replica handles its Will): forget the held copy. */
  async release(held: Promise<HeldWill | undefined>): Promise<void> {
    const entry = await held;
    if (!entry) return;
    try {
      const kv = await this.#kv;
      // A later connection of the same client on this replica has rewritten the key: keep it.
      await kv.delete(entry.key, { revision: entry.revision });
    } catch (error) {
      if (!KvConflictError.is(error)) this.#logger.debug({ err: error, key: entry.key }, 'held will not released');
    }
  }

  /**
   * Publishes (or schedules, with their delay) the held Wills of replicas whose lease is gone:
   * their connections ended with them. Compare-and-set delete first, so one replica does it.
   * A delayed Will whose session `resumedElsewhere` (a live connection owns it) is dropped.
   */
  async sweepHeld(
    self: string,
    isAlive: (node: string) => Promise<boolean>,
    resumedElsewhere: (clientId: string) => Promise<boolean>,
  ): Promise<void> {
    const kv = await this.#kv;
    for (const key of await kv.keys('h.>')) {
      const node = key.split('.')[1]!;
      if (node !== self && !(await isAlive(decodeKey(node)))) await this.#orphaned(key, resumedElsewhere);
    }
  }

  async #orphaned(key: string, resumedElsewhere: (clientId: string) => Promise<boolean>): Promise<void> {
    try {
      const kv = await this.#kv;
      const entry = await kv.get(key);
      if (!entry) return;
      const stored = JSON.parse(decoder.decode(entry.value)) as StoredWill;
      try {
        await kv.delete(key, { revision: entry.revision });
      } catch (error) {
        if (KvConflictError.is(error)) return;
        throw error;
      }
      const will = fromStored(stored);
      const delayMs = stored.delayMs ?? 0;
      if (delayMs > 0) {
        // The client is back on a live replica within the delay: no Will [MQTT-3.1.3-9].
        if (await resumedElsewhere(stored.clientId)) return;
        await this.schedule(stored.clientId, { ...will, delay: delayMs / 1000 }, Date.now() + delayMs);
      } else {
        this.publishNow(stored.clientId, will);
      }
    } catch (error) {
      this.#logger.warn({ err: error, key }, 'will of a stopped replica not handled');
    }
  }

  #arm(clientId: string, dueAt: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timers.get(clientId));
    const timer = setTimeout(
      () => {
        this.#timers.delete(clientId);
        this.#track(this.#fire(willKey(clientId), false));
      },
      Math.max(0, dueAt - Date.now()),
    );
    timer.unref();
    this.#timers.set(clientId, timer);
  }

  /**
   * The session of `clientId` continues on a new connection: its pending Will is not sent
   * [MQTT-3.1.3-9]. With `publish` (the session ended instead, e.g. Clean Start), it is sent now.
   */
  async settle(clientId: string, publish: boolean): Promise<void> {
    clearTimeout(this.#timers.get(clientId));
    this.#timers.delete(clientId);
    if (publish) {
      await this.#fire(willKey(clientId), true);
      return;
    }
    const kv = await this.#kv;
    await kv.delete(willKey(clientId));
  }

  /** Publishes every pending Will that is due (any replica's): the sweeper's part. */
  async sweep(): Promise<void> {
    const kv = await this.#kv;
    for (const key of await kv.keys('w.*')) await this.#fire(key, false);
  }

  /** Claims the Will at `key` with compare-and-set and publishes it (if due, or `force`). */
  async #fire(key: string, force: boolean): Promise<void> {
    try {
      const kv = await this.#kv;
      const entry = await kv.get(key);
      if (!entry) return;
      const will = JSON.parse(decoder.decode(entry.value)) as StoredWill;
      if (!force && will.dueAt > Date.now()) return;
      try {
        await kv.delete(key, { revision: entry.revision });
      } catch (error) {
        if (KvConflictError.is(error)) return; // another replica claimed or cancelled it
        throw error;
      }
      this.publishNow(will.clientId, fromStored(will));
    } catch (error) {
      this.#logger.warn({ err: error, key }, 'pending will not handled');
    }
  }

  /** Stops the local timers; pending Wills stay stored for the other replicas' sweepers. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}

function toStored(clientId: string, will: WillMessage, dueAt: number): StoredWill {
  const { correlationData, ...rest } = will.properties ?? {};
  return {
    clientId,
    topic: will.topic,
    payload: will.payload.toString('base64'),
    qos: will.qos,
    retain: will.retain,
    ...(will.properties && {
      properties: {
        ...rest,
        ...(correlationData !== undefined && { correlationData: Buffer.from(correlationData).toString('base64') }),
      },
    }),
    dueAt,
  };
}

function fromStored(will: StoredWill): Omit<WillMessage, 'delay'> {
  const { correlationData, ...rest } = will.properties ?? {};
  return {
    topic: will.topic,
    payload: Buffer.from(will.payload, 'base64'),
    qos: will.qos,
    retain: will.retain,
    properties: will.properties && {
      ...rest,
      ...(correlationData !== undefined && { correlationData: Buffer.from(correlationData, 'base64') }),
    },
  };
}
