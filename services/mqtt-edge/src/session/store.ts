import { type Backbone, type KvBucket, KvConflictError, type KvSpec } from '@protomesh/backbone';
import { SessionTakenOverError } from '../errors.js';
import {
  decodeRecord,
  encodeRecord,
  freshRecord,
  isExpired,
  type MutableSessionRecord,
  type SessionOwner,
  type SessionRecord,
  sessionKey,
} from './record.js';

/** Attempts at a compare-and-set claim before giving up (each lost race re-reads). */
const CLAIM_ATTEMPTS = 8;

/** What a CONNECT asks of the store. */
export interface ClaimRequest {
  readonly clientId: string;
  readonly owner: SessionOwner;
  readonly proto: 3 | 4 | 5;
  /** Session Expiry Interval granted, in seconds (0 = the session ends with the connection). */
  readonly expiry: number;
  /** MQTT 5 Clean Start / 3.1.1 Clean Session. */
  readonly cleanStart: boolean;
}

/** The outcome of a claim. */
export interface Claim {
  /** The record found before the claim (expired or not), if any. */
  readonly previous: SessionRecord | undefined;
  /** The previous session continues (CONNACK Session Present 1). */
  readonly resumed: boolean;
  /** The owned record; undefined when nothing was written (a clean session with nothing stored). */
  readonly handle: SessionHandle | undefined;
}

/** The sessions bucket: claims with compare-and-set, so two replicas never both own a session. */
export class SessionStore {
  readonly #bucket: Promise<KvBucket>;

  constructor(backbone: Backbone, spec: KvSpec) {
    this.#bucket = backbone.kv(spec);
    // Provisioning errors surface on first use.
    this.#bucket.catch(() => undefined);
  }

  bucket(): Promise<KvBucket> {
    return this.#bucket;
  }

  /** The current record of `clientId` with its revision. */
  async read(clientId: string): Promise<{ record: SessionRecord; revision: number } | undefined> {
    const kv = await this.#bucket;
    const entry = await kv.get(sessionKey(clientId));
    const record = entry && decodeRecord(entry.value);
    return record && entry ? { record, revision: entry.revision } : undefined;
  }

  /**
   * Claims the session of a connecting client: resumes the stored one when Clean Start is 0
   * and it has not expired, otherwise starts a new one. A record is written (owner = this
   * connection) when the session outlives the connection or when one was stored already, so
   * the previous owner's later writes fail.
   */
  async claim(request: ClaimRequest, onLost: () => void): Promise<Claim> {
    const kv = await this.#bucket;
    const key = sessionKey(request.clientId);
    for (let attempt = 0; ; attempt++) {
      const entry = await kv.get(key);
      const previous = entry ? decodeRecord(entry.value) : undefined;
      const resumed = previous !== undefined && !request.cleanStart && !isExpired(previous, Date.now());
      if (!entry && request.expiry === 0) return { previous: undefined, resumed: false, handle: undefined };
      const record: SessionRecord =
        resumed && previous
          ? { ...previous, owner: request.owner, proto: request.proto, expiry: request.expiry, endedAt: null }
          : freshRecord(request.owner, request.proto, request.expiry);
      try {
        const revision = entry
          ? await kv.update(key, encodeRecord(record), entry.revision)
          : await kv.create(key, encodeRecord(record));
        return { previous, resumed, handle: new SessionHandle(kv, key, record, revision, onLost) };
      } catch (error) {
        if (!KvConflictError.is(error) || attempt + 1 >= CLAIM_ATTEMPTS) throw error;
      }
    }
  }

  /** Deletes a record if it is still at `revision`; false when it changed meanwhile. */
  async deleteIfUnchanged(key: string, revision: number): Promise<boolean> {
    const kv = await this.#bucket;
    try {
      await kv.delete(key, { revision });
      return true;
    } catch (error) {
      if (KvConflictError.is(error)) return false;
      throw error;
    }
  }

  /** Every stored session key (`s.*`). */
  async keys(): Promise<string[]> {
    const kv = await this.#bucket;
    return kv.keys('s.*');
  }
}

interface PendingUpdate {
  readonly mutate: (record: MutableSessionRecord) => void;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The record of a session this connection owns. Updates are group-committed: while one
 * compare-and-set write is under way, later updates collect and go out together in the
 * next one, so a busy session makes one KV round trip per batch, not per packet. A write
 * that conflicts means another connection claimed the session: every pending update fails
 * with `SessionTakenOverError` and `onLost` runs once.
 */
export class SessionHandle {
  readonly key: string;
  /** Revision of the claim: later claims of the same session have higher ones. */
  readonly claimRevision: number;
  readonly #kv: KvBucket;
  readonly #onLost: () => void;
  #record: SessionRecord;
  #revision: number;
  #pending: PendingUpdate[] = [];
  #writing = false;
  /** The write loop under way, if any. */
  #flushing: Promise<void> | undefined;
  #lost = false;
  #released = false;

  constructor(kv: KvBucket, key: string, record: SessionRecord, revision: number, onLost: () => void) {
    this.#kv = kv;
    this.key = key;
    this.#record = record;
    this.#revision = revision;
    this.claimRevision = revision;
    this.#onLost = onLost;
  }

  /** The record as last written. */
  get record(): SessionRecord {
    return this.#record;
  }

  get lost(): boolean {
    return this.#lost;
  }

  /** Applies `mutate` to the record and resolves once it is stored. */
  update(mutate: (record: MutableSessionRecord) => void): Promise<void> {
    if (this.#lost) return Promise.reject(new SessionTakenOverError());
    if (this.#released) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#pending.push({ mutate, resolve, reject });
      if (!this.#writing) this.#flushing = this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    while (this.#pending.length > 0 && !this.#lost) {
      const batch = this.#pending;
      this.#pending = [];
      const next = structuredClone(this.#record) as MutableSessionRecord;
      for (const update of batch) update.mutate(next);
      try {
        this.#revision = await this.#kv.update(this.key, encodeRecord(next), this.#revision);
        this.#record = next;
        for (const update of batch) update.resolve();
      } catch (error) {
        if (KvConflictError.is(error)) {
          this.#markLost();
          for (const update of batch) update.reject(new SessionTakenOverError());
        } else {
          for (const update of batch) update.reject(error);
        }
      }
    }
    for (const update of this.#pending.splice(0)) update.reject(new SessionTakenOverError());
    this.#writing = false;
  }

  #markLost(): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#onLost();
  }

  /** Resolves once no write is under way. */
  async #idle(): Promise<void> {
    while (this.#writing) await this.#flushing;
  }

  /**
   * The connection ended: the session stays for `expiry` seconds (owner cleared, end time
   * set), or is deleted when `expiry` is 0. Returns the final record, or undefined when the
   * session was lost to another connection meanwhile.
   */
  async release(expiry: number, endedAt: number): Promise<SessionRecord | undefined> {
    await this.#idle();
    if (this.#lost || this.#released) return undefined;
    this.#released = true;
    const final: SessionRecord = { ...this.#record, owner: null, endedAt, expiry };
    try {
      if (expiry === 0) await this.#kv.delete(this.key, { revision: this.#revision });
      else this.#revision = await this.#kv.update(this.key, encodeRecord(final), this.#revision);
      this.#record = final;
      return final;
    } catch (error) {
      if (KvConflictError.is(error)) {
        this.#lost = true;
        return undefined;
      }
      throw error;
    }
  }
}
