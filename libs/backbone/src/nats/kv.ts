import type { KV } from '@nats-io/kv';
import type { KvBucket, KvEntry } from '../contract.js';
import { KvConflictError } from '../errors.js';
import { assertKvFilter, assertKvKey } from '../validate.js';
import { ApiCode, apiCode, requestFailed } from './api-errors.js';

/** True for JetStream's "wrong last sequence": the compare-and-set precondition failed. */
function isWrongLastSequence(err: unknown): boolean {
  const code = apiCode(err);
  return code === ApiCode.StreamWrongLastSequence || code === ApiCode.StreamWrongLastSequenceUnknown;
}

/** A NATS KV bucket (history 1) behind the contract's `KvBucket`. */
export class NatsKvBucket implements KvBucket {
  readonly name: string;
  readonly #kv: KV;
  readonly #assertOpen: (operation: string) => void;

  constructor(name: string, kv: KV, assertOpen: (operation: string) => void) {
    this.name = name;
    this.#kv = kv;
    this.#assertOpen = assertOpen;
  }

  async get(key: string): Promise<KvEntry | undefined> {
    this.#assertOpen('kv.get');
    assertKvKey(key);
    try {
      const entry = await this.#kv.get(key);
      // A delete or purge leaves a marker entry: for the contract the key is absent.
      if (entry === null || entry.operation !== 'PUT') return undefined;
      return { key, value: entry.value, revision: entry.revision };
    } catch (err) {
      throw requestFailed(`kv.get ${this.name}`, err);
    }
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return this.#write('kv.put', key, () => this.#kv.put(key, value));
  }

  create(key: string, value: Uint8Array): Promise<number> {
    // The client's create also succeeds over a delete marker (it updates at the marker's revision).
    return this.#write('kv.create', key, () => this.#kv.create(key, value));
  }

  update(key: string, value: Uint8Array, revision: number): Promise<number> {
    // `put` with previousSeq rather than `update`, which refuses revision 0 by throwing.
    return this.#write('kv.update', key, () => this.#kv.put(key, value, { previousSeq: revision }));
  }

  async delete(key: string, options?: { readonly revision?: number }): Promise<void> {
    const revision = options?.revision;
    await this.#write('kv.delete', key, async () => {
      await this.#kv.delete(key, revision === undefined ? undefined : { previousSeq: revision });
      return 0;
    });
  }

  async keys(filter?: string): Promise<string[]> {
    this.#assertOpen('kv.keys');
    if (filter !== undefined) assertKvFilter(filter);
    try {
      const keys: string[] = [];
      for await (const key of await this.#kv.keys(filter ?? '>')) keys.push(key);
      return keys;
    } catch (err) {
      throw requestFailed(`kv.keys ${this.name}`, err);
    }
  }

  async #write(operation: string, key: string, write: () => Promise<number>): Promise<number> {
    this.#assertOpen(operation);
    assertKvKey(key);
    try {
      return await write();
    } catch (err) {
      if (isWrongLastSequence(err)) throw new KvConflictError(this.name, key, { cause: err });
      throw requestFailed(`${operation} ${this.name}`, err);
    }
  }
}
