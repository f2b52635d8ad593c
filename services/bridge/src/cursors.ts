/**
 * Where each QoS 1 partition of each route stands: `cursor.<route>.<partition>` in the
 * bridge bucket (`<STEM>_BRIDGE`, no TTL) holds a stream sequence below which every
 * message of that partition has been stored in the target tier (or skipped for good).
 * Only the partition's lease holder moves it, and only forwards (compare-and-set, keeping
 * the larger value), so a stale owner can never move it back. `start.<route>` is where a
 * new route begins: the source stream's end when the route was first seen, the same for
 * every partition whoever takes it first.
 */
import { type Backbone, type KvBucket, KvConflictError, layoutStem, type MeshLayout } from '@protomesh/backbone';
import type { CompiledRoute } from './routes.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface CursorValue {
  /** Next stream sequence to look at. */
  readonly seq: number;
  /** Partition count the cursor was written under. */
  readonly n?: number;
}

function parse(bytes: Uint8Array | undefined): CursorValue | undefined {
  if (!bytes) return undefined;
  try {
    const value = JSON.parse(decoder.decode(bytes)) as CursorValue;
    return Number.isInteger(value.seq) && value.seq >= 1 ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The KV spec of the bridge's own bucket in `layout`. */
export function bridgeBucket(layout: MeshLayout): { bucket: string; replicas?: number } {
  const replicas = layout.buckets.leases.replicas;
  return { bucket: `${layoutStem(layout.prefix)}_BRIDGE`, ...(replicas === undefined ? {} : { replicas }) };
}

/** Reads and moves partition cursors. */
export class CursorStore {
  readonly #kv: KvBucket;
  readonly #backbone: Backbone;
  readonly #layout: MeshLayout;
  readonly #partitions: number;
  /** Last known revision per key (saves a read before each compare-and-set). */
  readonly #revisions = new Map<string, number>();

  constructor(kv: KvBucket, backbone: Backbone, layout: MeshLayout, partitions: number) {
    this.#kv = kv;
    this.#backbone = backbone;
    this.#layout = layout;
    this.#partitions = partitions;
  }

  /** Opens the bridge bucket. */
  static async open(backbone: Backbone, layout: MeshLayout, partitions: number): Promise<CursorStore> {
    return new CursorStore(await backbone.kv(bridgeBucket(layout)), backbone, layout, partitions);
  }

  static key(route: CompiledRoute, partition: number): string {
    return `cursor.${route.slug}.${partition}`;
  }

  /**
   * Where partition `partition` of `route` resumes: its cursor; else (a new route, or a
   * changed partition count) the lowest cursor of the route, else the route's start.
   */
  async read(route: CompiledRoute, partition: number): Promise<number> {
    const key = CursorStore.key(route, partition);
    const entry = await this.#kv.get(key);
    const value = parse(entry?.value);
    if (entry && value && (value.n === undefined || value.n === this.#partitions)) {
      this.#revisions.set(key, entry.revision);
      return value.seq;
    }
    if (entry) this.#revisions.set(key, entry.revision);
    // Partition count changed: the hash moved topics between partitions, so start every
    // partition at the lowest position of the route (repeats are absorbed by deduplication).
    const others = await this.#kv.keys(`cursor.${route.slug}.*`);
    let lowest: number | undefined;
    for (const other of others) {
      const seq = parse((await this.#kv.get(other))?.value)?.seq;
      if (seq !== undefined && (lowest === undefined || seq < lowest)) lowest = seq;
    }
    return lowest ?? (await this.#start(route));
  }

  /** The route's start (created on first use at the end of the source stream). */
  async #start(route: CompiledRoute): Promise<number> {
    const key = `start.${route.slug}`;
    const existing = parse((await this.#kv.get(key))?.value);
    if (existing) return existing.seq;
    const state = await this.#backbone.streamState(this.#layout.streams[route.from.tier].name);
    const seq = (state?.lastSeq ?? 0) + 1;
    try {
      await this.#kv.create(key, encoder.encode(JSON.stringify({ seq })));
      return seq;
    } catch (error) {
      if (!KvConflictError.is(error)) throw error;
      const raced = parse((await this.#kv.get(key))?.value);
      return raced?.seq ?? seq;
    }
  }

  /** Moves the cursor forward to `seq` (never back). */
  async write(route: CompiledRoute, partition: number, seq: number): Promise<void> {
    const key = CursorStore.key(route, partition);
    const value = encoder.encode(JSON.stringify({ seq, n: this.#partitions }));
    for (let attempt = 0; attempt < 5; attempt++) {
      const revision = this.#revisions.get(key);
      try {
        const next =
          revision === undefined ? await this.#kv.create(key, value) : await this.#kv.update(key, value, revision);
        this.#revisions.set(key, next);
        return;
      } catch (error) {
        if (!KvConflictError.is(error)) throw error;
        // Someone else wrote (or deleted) it: re-read, and keep the larger position.
        const entry = await this.#kv.get(key);
        if (!entry) {
          this.#revisions.delete(key);
          continue;
        }
        this.#revisions.set(key, entry.revision);
        const current = parse(entry.value);
        if (current && current.seq >= seq && current.n === this.#partitions) return;
      }
    }
  }

  /** Forgets a removed route: its start and every cursor (a route added again later starts anew). */
  async forget(route: CompiledRoute): Promise<void> {
    const keys = [...(await this.#kv.keys(`cursor.${route.slug}.*`)), `start.${route.slug}`];
    await Promise.all(keys.map((key) => this.#kv.delete(key).catch(() => undefined)));
    for (const key of keys) this.#revisions.delete(key);
  }
}

/**
 * The partition of a source subject: FNV-1a (32 bit) of its UTF-16 code units, modulo
 * `partitions`. Stable across processes and versions: changing it moves topics between
 * partitions, like changing `BRIDGE_PARTITIONS`.
 */
export function partitionOf(subject: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < subject.length; i++) {
    hash ^= subject.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}
