/**
 * An in-memory JetStream stream with limits retention: sequence numbers, age, count and
 * size limits (discard old), one message per subject when `lastValuePerSubject`, and
 * `Nats-Msg-Id` deduplication over the duplicate window. Limits are enforced on every
 * write and, for age, lazily on every read (no sweeper: the clock may be a test's).
 */

import { subjectMatches } from '@protomesh/topic-map';
import type { HeaderEntries, StoredMessage, StreamSpec, StreamState } from '../contract.js';
import { copyBytes } from '../copy.js';
import { DEFAULT_DUPLICATE_WINDOW_MS } from '../defaults.js';
import { SeqList } from './seq-list.js';

/** What a stream tells its consumers. */
export interface StreamObserver {
  onAppend(message: StoredMessage): void;
  onRemove(message: StoredMessage): void;
}

/** The limits of a stream, normalised from its spec. */
export interface StreamLimits {
  readonly subjects: readonly string[];
  readonly lastValuePerSubject: boolean;
  /** 0 = unlimited. */
  readonly maxAgeMs: number;
  /** Infinity = unlimited. */
  readonly maxBytes: number;
  readonly maxMsgs: number;
  readonly duplicateWindowMs: number;
  readonly storage: 'file' | 'memory';
}

export function streamLimits(spec: StreamSpec): StreamLimits {
  const maxAgeMs = spec.maxAgeMs ?? 0;
  let duplicateWindowMs = spec.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  if (maxAgeMs > 0 && duplicateWindowMs > maxAgeMs) duplicateWindowMs = maxAgeMs;
  return {
    subjects: [...spec.subjects],
    lastValuePerSubject: spec.lastValuePerSubject === true,
    maxAgeMs,
    maxBytes: spec.maxBytes ?? Number.POSITIVE_INFINITY,
    maxMsgs: spec.maxMsgs ?? Number.POSITIVE_INFINITY,
    duplicateWindowMs,
    storage: spec.storage ?? 'file',
  };
}

/** Approximate stored size of a message, in bytes (subject, headers, payload; NATS adds a small overhead). */
function messageBytes(subject: string, payload: Uint8Array, headers: HeaderEntries | undefined): number {
  let bytes = subject.length + payload.byteLength;
  if (headers !== undefined) for (const [name, value] of headers) bytes += name.length + value.length + 4;
  return bytes;
}

export class MemoryStream {
  readonly name: string;
  #limits: StreamLimits;
  readonly #clock: () => number;
  readonly #observers = new Set<StreamObserver>();
  readonly #messages = new Map<number, StoredMessage>();
  /** Live sequences, ascending. */
  readonly #seqs = new SeqList();
  /** Live sequences per subject, ascending. */
  readonly #bySubject = new Map<string, SeqList>();
  readonly #sizes = new Map<number, number>();
  /** msgId → when it was stored and where; in insertion (= time) order. */
  readonly #dedup = new Map<string, { seq: number; time: number }>();
  #bytes = 0;
  #lastSeq = 0;

  constructor(name: string, limits: StreamLimits, clock: () => number) {
    this.name = name;
    this.#limits = limits;
    this.#clock = clock;
  }

  get limits(): StreamLimits {
    return this.#limits;
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** True when `subject` (a plain subject) is captured by this stream. */
  captures(subject: string): boolean {
    return this.#limits.subjects.some((pattern) => subjectMatches(pattern, subject));
  }

  /** Replaces the limits (an in-place update) and applies them at once. */
  update(limits: StreamLimits): void {
    this.#limits = limits;
    this.expire();
    this.#enforceLimits();
  }

  observe(observer: StreamObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /**
   * Stores a message; with a `msgId` seen inside the duplicate window, stores nothing and
   * returns the original sequence with `duplicate: true`.
   */
  store(
    subject: string,
    payload: Uint8Array,
    headers: HeaderEntries | undefined,
    msgId: string | undefined,
  ): { seq: number; duplicate: boolean } {
    const now = this.#clock();
    this.expire();
    if (msgId !== undefined) {
      this.#forgetOldIds(now);
      const seen = this.#dedup.get(msgId);
      if (seen !== undefined) return { seq: seen.seq, duplicate: true };
    }
    const seq = ++this.#lastSeq;
    const message: StoredMessage = Object.freeze({
      stream: this.name,
      seq,
      subject,
      // A private copy: the caller may reuse its buffer.
      payload: copyBytes(payload),
      headers,
      time: now,
    });
    if (this.#limits.lastValuePerSubject) {
      for (const old of this.#bySubject.get(subject)?.toArray() ?? []) this.#remove(old);
    }
    this.#messages.set(seq, message);
    this.#seqs.push(seq);
    let perSubject = this.#bySubject.get(subject);
    if (perSubject === undefined) {
      perSubject = new SeqList();
      this.#bySubject.set(subject, perSubject);
    }
    perSubject.push(seq);
    const size = messageBytes(subject, payload, headers);
    this.#sizes.set(seq, size);
    this.#bytes += size;
    if (msgId !== undefined) this.#dedup.set(msgId, { seq, time: now });
    this.#enforceLimits();
    // A message bigger than max bytes is dropped by the limit at once, as on nats-server.
    if (this.#messages.has(seq)) for (const observer of [...this.#observers]) observer.onAppend(message);
    return { seq, duplicate: false };
  }

  #forgetOldIds(now: number): void {
    for (const [id, { time }] of this.#dedup) {
      if (now - time < this.#limits.duplicateWindowMs) break;
      this.#dedup.delete(id);
    }
  }

  #enforceLimits(): void {
    const { maxMsgs, maxBytes } = this.#limits;
    while (this.#seqs.length > 0 && (this.#seqs.length > maxMsgs || this.#bytes > maxBytes)) {
      this.#remove(this.#seqs.first!);
    }
  }

  /** Drops messages older than the max age. */
  expire(): void {
    const { maxAgeMs } = this.#limits;
    if (maxAgeMs <= 0) return;
    const cutoff = this.#clock() - maxAgeMs;
    while (this.#seqs.length > 0) {
      const oldest = this.#messages.get(this.#seqs.first!)!;
      if (oldest.time > cutoff) break;
      this.#remove(oldest.seq);
    }
  }

  #remove(seq: number): void {
    const message = this.#messages.get(seq);
    if (message === undefined) return;
    this.#messages.delete(seq);
    this.#seqs.remove(seq);
    const perSubject = this.#bySubject.get(message.subject);
    if (perSubject !== undefined) {
      perSubject.remove(seq);
      if (perSubject.length === 0) this.#bySubject.delete(message.subject);
    }
    this.#bytes -= this.#sizes.get(seq) ?? 0;
    this.#sizes.delete(seq);
    for (const observer of [...this.#observers]) observer.onRemove(message);
  }

  get(seq: number): StoredMessage | undefined {
    this.expire();
    return this.#messages.get(seq);
  }

  /** Live messages with sequence >= `from`, ascending, lazily. */
  *from(from: number): Generator<StoredMessage> {
    for (let i = this.#seqs.lowerBound(from); i < this.#seqs.length; i++) {
      const seq = this.#seqs.at(i)!;
      const message = this.#messages.get(seq);
      if (message !== undefined) yield message;
    }
  }

  /** The first live message with sequence >= `from` whose subject matches `filter` (all when undefined). */
  next(from: number, filter: string | undefined): StoredMessage | undefined {
    for (let i = this.#seqs.lowerBound(from); i < this.#seqs.length; i++) {
      const message = this.#messages.get(this.#seqs.at(i)!)!;
      if (filter === undefined || subjectMatches(filter, message.subject)) return message;
    }
    return undefined;
  }

  /** Up to `max` live messages with sequence >= `from` matching `filter` (all when undefined), ascending. */
  read(from: number, filter: string | undefined, max: number): StoredMessage[] {
    this.expire();
    const out: StoredMessage[] = [];
    for (let i = this.#seqs.lowerBound(from); i < this.#seqs.length && out.length < max; i++) {
      const message = this.#messages.get(this.#seqs.at(i)!)!;
      if (filter === undefined || subjectMatches(filter, message.subject)) out.push(message);
    }
    return out;
  }

  /** How many live messages with sequence >= `from` match `filter`. */
  count(from: number, filter: string | undefined): number {
    const start = this.#seqs.lowerBound(from);
    if (filter === undefined) return this.#seqs.length - start;
    let n = 0;
    for (let i = start; i < this.#seqs.length; i++) {
      if (subjectMatches(filter, this.#messages.get(this.#seqs.at(i)!)!.subject)) n++;
    }
    return n;
  }

  lastBySubject(subject: string): StoredMessage | undefined {
    this.expire();
    const seqs = this.#bySubject.get(subject);
    return seqs === undefined ? undefined : this.#messages.get(seqs.last!);
  }

  /** The newest message of every subject matching `filter`, in stream order. */
  lastPerSubject(filter: string | undefined): StoredMessage[] {
    this.expire();
    const out: StoredMessage[] = [];
    for (const [subject, seqs] of this.#bySubject) {
      if (filter === undefined || subjectMatches(filter, subject)) out.push(this.#messages.get(seqs.last!)!);
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  purge(filter: string): void {
    this.expire();
    const doomed: number[] = [];
    for (const [subject, seqs] of this.#bySubject) if (subjectMatches(filter, subject)) doomed.push(...seqs.toArray());
    doomed.sort((a, b) => a - b);
    for (const seq of doomed) this.#remove(seq);
  }

  state(): StreamState {
    this.expire();
    return {
      name: this.name,
      firstSeq: this.#seqs.first ?? this.#lastSeq + 1,
      lastSeq: this.#lastSeq,
      messages: this.#seqs.length,
    };
  }
}
