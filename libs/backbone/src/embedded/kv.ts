/**
 * An in-memory KV bucket with NATS KV semantics at history 1: one revision counter per
 * bucket (as a NATS KV revision is the bucket stream's sequence), delete markers that keep
 * a revision (so `create` after `delete` works and `update` against the marker's revision
 * works), and a TTL that drops an entry — marker included — that long after its last write.
 */
import { subjectMatches } from '@protomesh/topic-map';
import type { KvBucket, KvEntry } from '../contract.js';
import { KvConflictError } from '../errors.js';
import { assertKvFilter, assertKvKey } from '../validate.js';

interface Slot {
  /** Undefined for a delete marker. */
  readonly value: Uint8Array | undefined;
  readonly revision: number;
  readonly time: number;
}

export class MemoryKvBucket implements KvBucket {
  readonly name: string;
  readonly #slots = new Map<string, Slot>();
  readonly #clock: () => number;
  readonly #assertOpen: (operation: string) => void;
  #ttlMs: number | undefined;
  #revision = 0;

  constructor(name: string, ttlMs: number | undefined, clock: () => number, assertOpen: (operation: string) => void) {
    this.name = name;
    this.#ttlMs = ttlMs;
    this.#clock = clock;
    this.#assertOpen = assertOpen;
  }

  set ttlMs(ttlMs: number | undefined) {
    this.#ttlMs = ttlMs;
  }

  /** The slot of `key`, dropping it first when it has expired. */
  #slot(key: string): Slot | undefined {
    const slot = this.#slots.get(key);
    if (slot !== undefined && this.#ttlMs !== undefined && this.#clock() - slot.time >= this.#ttlMs) {
      this.#slots.delete(key);
      return undefined;
    }
    return slot;
  }

  #write(key: string, value: Uint8Array | undefined): number {
    const revision = ++this.#revision;
    // Entries are replaced, never mutated: re-inserting keeps the map in write order for expiry.
    this.#slots.delete(key);
    this.#slots.set(key, { value: value?.slice(), revision, time: this.#clock() });
    return revision;
  }

  #begin(operation: string, key: string): Slot | undefined {
    this.#assertOpen(operation);
    assertKvKey(key);
    return this.#slot(key);
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const slot = this.#begin('kv.get', key);
    if (slot?.value === undefined) return undefined;
    return { key, value: slot.value.slice(), revision: slot.revision };
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    this.#begin('kv.put', key);
    return this.#write(key, value);
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    const slot = this.#begin('kv.create', key);
    if (slot?.value !== undefined) throw new KvConflictError(this.name, key);
    return this.#write(key, value);
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    const slot = this.#begin('kv.update', key);
    if ((slot?.revision ?? 0) !== revision) throw new KvConflictError(this.name, key);
    return this.#write(key, value);
  }

  async delete(key: string, options?: { readonly revision?: number }): Promise<void> {
    const slot = this.#begin('kv.delete', key);
    // As the NATS client, a revision of 0 means "no precondition".
    const revision = options?.revision;
    if (revision !== undefined && revision !== 0 && (slot?.revision ?? 0) !== revision) {
      throw new KvConflictError(this.name, key);
    }
    this.#write(key, undefined);
  }

  async keys(filter?: string): Promise<string[]> {
    this.#assertOpen('kv.keys');
    if (filter !== undefined) assertKvFilter(filter);
    const out: { key: string; revision: number }[] = [];
    for (const key of [...this.#slots.keys()]) {
      const slot = this.#slot(key);
      if (slot?.value === undefined) continue;
      if (filter === undefined || subjectMatches(filter, key)) out.push({ key, revision: slot.revision });
    }
    // NATS lists keys in the order of their last write.
    return out.sort((a, b) => a.revision - b.revision).map((e) => e.key);
  }
}
