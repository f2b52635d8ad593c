/**
 * JetStream appends without the per-call request machinery of nats.js `js.publish` (a
 * header object, a request token, a timer and a stack-capturing error per call): a core
 * publish whose reply goes to one shared wildcard inbox subscription, pending appends in
 * maps, one timer for every deadline, and headers written straight to their wire form.
 * The server answers on the reply subject with a PubAck (`{"stream":"S","seq":N}`, plus
 * `"duplicate":true` for a repeated msgId), an API error (`{"error":{...}}`), or — when
 * nothing listens on the subject — a 503 status message without payload.
 */
import { JetStreamApiError } from '@nats-io/jetstream';
import {
  createInbox,
  errors,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import type { AppendResult, HeaderEntries } from '../contract.js';
import { AppendTimeoutError, BackboneClosedError, NoStreamError, StreamMismatchError } from '../errors.js';
import type { BackboneLogger } from '../logger.js';
import { ApiCode, isClosedConnection, requestFailed } from './api-errors.js';
import { EncodedHeaders, headerBlock, toNatsHeaders } from './headers.js';

/** Status code of the message the server sends to a reply subject when no one subscribes to the request subject. */
const NO_RESPONDERS_STATUS = 503;
/** Longest delay `setTimeout` takes, in ms; a longer one fires at once. A later sweep re-arms. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** What an append sends besides subject and payload; validated by the caller. */
export interface AppendRequest {
  readonly headers?: HeaderEntries;
  readonly msgId?: string;
  readonly expectStream?: string;
}

/** What the appender needs from its backbone. */
export interface AppenderContext {
  readonly nc: NatsConnection;
  /** The connection an append to `subject` is sent on (the reply comes to `nc` either way). */
  connectionFor(subject: string): NatsConnection;
  readonly logger: BackboneLogger;
  /** True while connected: a timeout while disconnected is not a missing stream. */
  isConnected(): boolean;
  /** True when some stream captures `subject` (true when the server cannot tell). */
  captured(subject: string): Promise<boolean>;
}

/** One append waiting for its acknowledgement. */
class PendingAppend {
  constructor(
    readonly id: number,
    readonly subject: string,
    readonly expectStream: string | undefined,
    readonly timeoutMs: number,
    /** `performance.now()` time after which the append times out. */
    readonly deadline: number,
    readonly resolve: (result: AppendResult) => void,
    readonly reject: (err: Error) => void,
  ) {}
}

/**
 * Appends waiting for an acknowledgement that share one timeout, in the order they were
 * sent — which is deadline order, so a sweep stops at the first one not yet due.
 */
interface DeadlineGroup {
  readonly timeoutMs: number;
  readonly pending: Map<number, PendingAppend>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes of the PubAck prefix `{"stream":"`, to spot the common answer without JSON.parse. */
const ACK_PREFIX = encoder.encode('{"stream":"');
const ACK_SEQ = encoder.encode('","seq":');
const ACK_DUPLICATE = encoder.encode(',"duplicate":true}');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE_BRACE = 0x7d;
const DIGIT_0 = 0x30;

function startsWithAt(data: Uint8Array, at: number, bytes: Uint8Array): boolean {
  if (data.length < at + bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (data[at + i] !== bytes[i]) return false;
  return true;
}

/** The last stream name decoded, with its bytes: acks of one stream decode it once. */
let lastStream = '';
let lastStreamBytes = new Uint8Array(0);

/**
 * A PubAck of the exact shape nats-server 2.9+ writes for a stored or duplicate message
 * (`{"stream":"S","seq":N}` or `{"stream":"S","seq":N,"duplicate":true}`, optionally
 * with a `"domain"`, which sends it to the slow path); undefined for anything else.
 */
export function parseCommonAck(data: Uint8Array): AppendResult | undefined {
  if (!startsWithAt(data, 0, ACK_PREFIX)) return undefined;
  const nameStart = ACK_PREFIX.length;
  const nameEnd = data.indexOf(QUOTE, nameStart);
  if (nameEnd < 0 || !startsWithAt(data, nameEnd, ACK_SEQ)) return undefined;
  // A JSON escape in the name (Go writes `<` as `\u003c`): leave it to JSON.parse.
  if (data.subarray(nameStart, nameEnd).includes(BACKSLASH)) return undefined;
  let i = nameEnd + ACK_SEQ.length;
  let seq = 0;
  const digitsStart = i;
  for (; i < data.length; i++) {
    const d = data[i]! - DIGIT_0;
    if (d < 0 || d > 9) break;
    seq = seq * 10 + d;
  }
  if (i === digitsStart || i - digitsStart > 16 || !Number.isSafeInteger(seq)) return undefined;
  const duplicate = i + ACK_DUPLICATE.length === data.length && startsWithAt(data, i, ACK_DUPLICATE);
  if (!duplicate && !(i === data.length - 1 && data[i] === CLOSE_BRACE)) return undefined;
  const name = data.subarray(nameStart, nameEnd);
  if (!sameBytes(name, lastStreamBytes)) {
    lastStream = decoder.decode(name);
    lastStreamBytes = name.slice();
  }
  return { stream: lastStream, seq, duplicate };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface ApiErrorBody {
  readonly code: number;
  readonly err_code?: number;
  readonly description?: string;
}

/** The answer of the server to an append: a result, or the error to reject with. */
function parseAck(data: Uint8Array, subject: string, expectStream: string | undefined): AppendResult | Error {
  const common = parseCommonAck(data);
  if (common !== undefined) return common;
  let body: { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: ApiErrorBody };
  try {
    body = JSON.parse(decoder.decode(data));
  } catch (err) {
    return requestFailed(`append ${subject}`, err);
  }
  if (body.error !== undefined) {
    const err = new JetStreamApiError({
      code: body.error.code,
      err_code: body.error.err_code ?? 0,
      description: body.error.description ?? '',
    });
    if (err.code === ApiCode.StreamNotMatch)
      return new StreamMismatchError(subject, expectStream ?? '', { cause: err });
    return requestFailed(`append ${subject}`, err);
  }
  if (typeof body.stream !== 'string' || body.stream === '' || typeof body.seq !== 'number') {
    return requestFailed(`append ${subject}`, new Error('invalid ack response'));
  }
  return { stream: body.stream, seq: body.seq, duplicate: body.duplicate === true };
}

/**
 * Sends JetStream appends and matches their acknowledgements. Every append settles once:
 * with its ack, an error from the server, a timeout, or `PM_BACKBONE_CLOSED` when the
 * connection closes first. A reply that comes after its append timed out is dropped.
 */
export class Appender {
  readonly #ctx: AppenderContext;
  /** `<inbox>.`: an append's reply subject is this followed by its id. */
  readonly #replyPrefix: string;
  readonly #sub: Subscription;
  #nextId = 1;
  #count = 0;
  /** Groups by timeout; few distinct timeouts are in use, so a list beats a map lookup per reply. */
  #groups: DeadlineGroup[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** `performance.now()` time the timer is set for. */
  #timerAt = Number.POSITIVE_INFINITY;
  #closed = false;
  #idle: (() => void)[] = [];

  constructor(ctx: AppenderContext) {
    this.#ctx = ctx;
    this.#replyPrefix = `${createInbox()}.`;
    this.#sub = ctx.nc.subscribe(`${this.#replyPrefix}*`, {
      callback: (err, msg) => {
        if (err !== null) {
          ctx.logger.error({ err }, 'append reply subscription failed');
          return;
        }
        this.#reply(msg);
      },
    });
    void ctx.nc.closed().then(() => this.#close());
  }

  /** Appends in flight. */
  get pending(): number {
    return this.#count;
  }

  /** Sends one append; the caller validated subject and request. */
  append(subject: string, payload: Uint8Array, request: AppendRequest, timeoutMs: number): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new BackboneClosedError('append'));
    const id = this.#nextId++;
    try {
      let headers: MsgHdrs | undefined;
      if (request.msgId === undefined && request.expectStream === undefined) {
        headers = toNatsHeaders(request.headers); // kept per frozen array
      } else {
        const wire = headerBlock(request.headers, request.msgId, request.expectStream);
        headers = wire === undefined ? undefined : new EncodedHeaders(wire);
      }
      this.#ctx.connectionFor(subject).publish(subject, payload, { reply: this.#replyPrefix + id, headers });
    } catch (err) {
      if (isClosedConnection(err)) return Promise.reject(new BackboneClosedError('append', { cause: err }));
      return Promise.reject(requestFailed(`append ${subject}`, err));
    }
    const deadline = performance.now() + timeoutMs;
    const group = this.#group(timeoutMs);
    return new Promise<AppendResult>((resolve, reject) => {
      group.pending.set(id, new PendingAppend(id, subject, request.expectStream, timeoutMs, deadline, resolve, reject));
      this.#count++;
      if (deadline < this.#timerAt) this.#arm(deadline);
    });
  }

  /** Resolves once no append is in flight (at once when none is). */
  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #group(timeoutMs: number): DeadlineGroup {
    for (const group of this.#groups) if (group.timeoutMs === timeoutMs) return group;
    const group = { timeoutMs, pending: new Map<number, PendingAppend>() };
    this.#groups.push(group);
    return group;
  }

  /** Takes the pending append `id` out of its group; undefined when it is not pending. */
  #take(id: number): PendingAppend | undefined {
    for (const group of this.#groups) {
      const pending = group.pending.get(id);
      if (pending !== undefined) {
        group.pending.delete(id);
        return pending;
      }
    }
    return undefined;
  }

  /** Counts an append taken out of its group as done once its promise is settled. */
  #settled(): void {
    this.#count--;
    if (this.#count === 0 && this.#idle.length > 0) {
      const waiting = this.#idle;
      this.#idle = [];
      for (const resolve of waiting) resolve();
    }
  }

  #reply(msg: Msg): void {
    const pending = this.#take(Number(msg.subject.slice(this.#replyPrefix.length)));
    if (pending === undefined) return; // timed out already
    try {
      const data = msg.data;
      if (data.length === 0 && msg.headers?.code === NO_RESPONDERS_STATUS) {
        pending.reject(new NoStreamError(pending.subject, { cause: new errors.NoRespondersError(pending.subject) }));
      } else {
        const outcome = parseAck(data, pending.subject, pending.expectStream);
        if (outcome instanceof Error) pending.reject(outcome);
        else pending.resolve(outcome);
      }
    } catch (err) {
      pending.reject(requestFailed(`append ${pending.subject}`, err));
    }
    this.#settled();
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    const delay = Math.min(Math.max(0, Math.ceil(at - performance.now())), MAX_TIMER_DELAY_MS);
    this.#timer = setTimeout(() => this.#sweep(), delay);
  }

  /** Times out every append past its deadline and sets the timer for the next one. */
  #sweep(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const group of this.#groups) {
      for (const pending of group.pending.values()) {
        if (pending.deadline > now) {
          next = Math.min(next, pending.deadline);
          break;
        }
        group.pending.delete(pending.id);
        void this.#timedOut(pending).finally(() => this.#settled());
      }
    }
    this.#groups = this.#groups.filter((group) => group.pending.size > 0);
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
  }

  async #timedOut(pending: PendingAppend): Promise<void> {
    const { subject, timeoutMs } = pending;
    const cause = new errors.TimeoutError();
    // A live subscriber on an uncaptured subject swallows the append: no 503 comes back.
    if (this.#ctx.isConnected() && !(await this.#ctx.captured(subject).catch(() => true))) {
      pending.reject(new NoStreamError(subject, { cause }));
    } else {
      pending.reject(new AppendTimeoutError(subject, timeoutMs, { cause }));
    }
  }

  /** The connection closed for good: fail what is in flight. */
  #close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const groups = this.#groups;
    this.#groups = [];
    for (const group of groups) {
      for (const pending of group.pending.values()) {
        pending.reject(new BackboneClosedError('append'));
        this.#settled();
      }
    }
    if (!this.#sub.isClosed()) this.#sub.unsubscribe();
  }
}
