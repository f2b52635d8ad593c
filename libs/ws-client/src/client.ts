import { CLOSE_UNAUTHORIZED, shouldReconnect } from './close-codes.js';
import { Emitter } from './emitter.js';
import { CLIENT_CLOSED, CLIENT_TIMEOUT, NO_WEBSOCKET, ProtomeshError } from './errors.js';
import { decodeFrame, encodeBinary, fromBase64, toBase64, utf8 } from './frames.js';

/** The subprotocol of Protomesh WebSocket protocol v1. */
export const SUBPROTOCOL = 'protomesh.v1';

/** The part of a WebSocket the client uses: the browser's `WebSocket` and the `ws` package both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** A WebSocket constructor: `globalThis.WebSocket` in browsers, `WebSocket` from `ws` in Node. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Reconnect timing: exponential backoff with jitter, in milliseconds. */
export interface ReconnectOptions {
  /** First delay (default 200). */
  readonly initialDelayMs?: number;
  /** Largest delay (default 10,000). */
  readonly maxDelayMs?: number;
  /** Growth per attempt (default 2). */
  readonly factor?: number;
  /** Fraction of the delay taken off at random, 0–1 (default 0.5), so clients do not reconnect in lockstep. */
  readonly jitter?: number;
}

export interface ClientOptions {
  /** ws-edge URL(s): with several, each reconnect tries the next (replicas without a load balancer). */
  readonly url: string | readonly string[];
  /** WebSocket implementation; default `globalThis.WebSocket` (Node 20 has none: pass `ws`). */
  readonly WebSocket?: WebSocketConstructor;
  /** A JWT, or a function returning a fresh one (called on every connect and before expiry). */
  readonly token?: string | (() => string | Promise<string>);
  /** Stable client id (default random): scopes publish ids so a retried publish is stored once. */
  readonly clientId?: string;
  /** Ask for binary frames for payloads that are not UTF-8 (default true). */
  readonly binary?: boolean;
  /** Reconnect timing, or false to stay closed after the first disconnect. */
  readonly reconnect?: ReconnectOptions | false;
  /** How long a publish waits for its ack across reconnects, in ms (default 10,000). */
  readonly publishTimeoutMs?: number;
  /** How long other requests wait for their reply, in ms (default 10,000). */
  readonly requestTimeoutMs?: number;
  /** Refresh the token this long before it expires, in ms (default 30,000). */
  readonly refreshBeforeMs?: number;
}

/** Connection states. */
export type ClientState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A delivered message. */
export interface Message {
  /** The subscription (filter) it was delivered for. */
  readonly filter: string;
  readonly topic: string;
  readonly qos: 0 | 1;
  /** Stream position (QoS 1). */
  readonly seq: number | undefined;
  /** The exact payload bytes. */
  readonly payload: Uint8Array;
  readonly contentType: string | undefined;
  /** Delivered from the retained store on subscribe. */
  readonly retain: boolean;
  /** Tier where it entered the mesh. */
  readonly origin: 'mqtt' | 'ws' | undefined;
  /** Delivery count of a redelivery (acked subscriptions). */
  readonly redelivered: number | undefined;
  /** The payload as text (UTF-8). */
  text(): string;
  /** The payload parsed as JSON. */
  json<T = unknown>(): T;
  /** Acknowledges it (acked subscriptions; a no-op otherwise). */
  ack(): void;
}

/** The result of a (re)subscribe. */
export interface SubscribeResult {
  /** Stream position the subscription is live from. */
  readonly seq: number;
  /** Present when recovery was asked for: false means messages were lost (no longer stored). */
  readonly recovered: boolean | undefined;
}

/** The ack of a publish. */
export interface PublishResult {
  /** Stream position (QoS 1). */
  readonly seq: number | undefined;
  /** True when the server had already stored this publish (a retry). */
  readonly duplicate: boolean;
}

export interface PublishOptions {
  readonly qos?: 0 | 1;
  readonly retain?: boolean;
  readonly contentType?: string;
  /** Overrides `publishTimeoutMs`. */
  readonly timeoutMs?: number;
}

export interface SubscribeOptions {
  /** Called for every message of this subscription. */
  readonly onMessage?: (message: Message) => void;
  /** Deliver retained messages on the first subscribe (default false). */
  readonly retained?: boolean;
  /** Client acks: QoS 1 messages are redelivered until `message.ack()` (default false). */
  readonly ack?: boolean;
  /** Most unacked messages in flight (acked subscriptions). */
  readonly window?: number;
  /** Start from this stream position (the messages after it are delivered first). */
  readonly since?: number;
  /** Resubscribe with the last position after a reconnect, so nothing is missed (default true). */
  readonly recover?: boolean;
}

/** Events of {@link ProtomeshClient}. */
export interface ClientEvents {
  /** Connected (and authenticated); `reconnected` is false the first time. */
  open: { readonly connection: string; readonly reconnected: boolean };
  /** The socket closed; `reconnect` says whether the client will try again. */
  close: { readonly code: number; readonly reason: string; readonly reconnect: boolean };
  /** A reconnect is scheduled. */
  reconnecting: { readonly attempt: number; readonly delayMs: number; readonly url: string };
  /** Every delivered message (also given to the subscription). */
  message: Message;
  /** A subscription was set up (again); `recovered` false: messages were lost while away. */
  subscribed: { readonly filter: string } & SubscribeResult;
  /** An error frame without a waiting request, or a failed resubscribe. */
  error: ProtomeshError;
  /** The connection state changed. */
  state: ClientState;
}

/** Events of a {@link Subscription}. */
export interface SubscriptionEvents {
  message: Message;
  subscribed: SubscribeResult;
}

const OPEN = 1;

/** One subscription of the client; it survives reconnects. */
export class Subscription extends Emitter<SubscriptionEvents> {
  readonly filter: string;
  readonly options: SubscribeOptions;
  /** Resolves with the first subscribe result; rejects if the server refuses the filter. */
  readonly ready: Promise<SubscribeResult>;
  /** Highest stream position received (or confirmed) for this subscription. */
  position: number | undefined;
  /** Acked subscriptions: delivered, not yet acked. */
  readonly #unacked = new Set<number>();
  readonly #client: ProtomeshClient;
  #first = true;
  #settle: { resolve: (r: SubscribeResult) => void; reject: (e: Error) => void } | undefined;
  active = true;

  constructor(client: ProtomeshClient, filter: string, options: SubscribeOptions) {
    super();
    this.#client = client;
    this.filter = filter;
    this.options = options;
    this.position = options.since;
    this.ready = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // A refused filter is reported through `ready`; do not leave it unhandled when nobody awaits.
    this.ready.catch(() => undefined);
    if (options.onMessage) this.on('message', options.onMessage);
  }

  /** The `sub` request for the next (re)subscribe. */
  request(): Record<string, unknown> {
    const request: Record<string, unknown> = { op: 'sub', filter: this.filter };
    const since = this.#resumeFrom();
    if (since !== undefined && (this.#first || this.options.recover !== false)) request.since = since;
    if (this.options.retained && this.#first) request.retained = true;
    if (this.options.ack) request.ack = true;
    if (this.options.window !== undefined) request.window = this.options.window;
    return request;
  }

  /** Where to resume: before the oldest unacked message, else the last position. */
  #resumeFrom(): number | undefined {
    if (this.#unacked.size > 0) return Math.min(...this.#unacked) - 1;
    return this.position;
  }

  subscribed(result: SubscribeResult): void {
    if (this.options.ack) this.#unacked.clear(); // the server redelivers what is unacked from `since`
    this.position = Math.max(this.position ?? 0, result.seq);
    if (result.recovered === false) this.position = result.seq;
    this.#first = false;
    this.#settle?.resolve(result);
    this.#settle = undefined;
    this.emit('subscribed', result);
  }

  refused(error: Error): void {
    this.#settle?.reject(error);
    this.#settle = undefined;
  }

  deliver(message: Message): void {
    if (message.seq !== undefined && !message.retain) {
      if (this.options.ack && message.qos === 1) this.#unacked.add(message.seq);
      if (this.position === undefined || message.seq > this.position) this.position = message.seq;
    }
    this.emit('message', message);
  }

  acked(seq: number): void {
    this.#unacked.delete(seq);
  }

  /** Unsubscribes (and forgets the subscription). */
  unsubscribe(): Promise<void> {
    return this.#client.unsubscribe(this);
  }
}

interface Pending {
  readonly frame: string | Uint8Array;
  readonly resolve: (frame: Record<string, unknown>) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
  /** Resent after a reconnect (QoS 1 publishes, with the same msgId). */
  readonly resend: boolean;
}

/**
 * A Protomesh WebSocket client (protocol v1) for browsers and Node: connects with
 * exponential backoff and jitter, resubscribes with recovery after every reconnect (no gap,
 * no duplicate), acknowledged publishes with timeouts (retried with the same id, stored once),
 * token refresh, typed events, and a clean `close()`.
 */
export class ProtomeshClient extends Emitter<ClientEvents> {
  readonly clientId: string;
  readonly #options: ClientOptions;
  readonly #urls: readonly string[];
  readonly #WebSocket: WebSocketConstructor;
  readonly #subs = new Map<string, Subscription>();
  readonly #pending = new Map<string, Pending>();
  #socket: WebSocketLike | undefined;
  #state: ClientState = 'idle';
  #attempt = 0;
  #urlIndex = 0;
  #nextId = 0;
  #connectedOnce = false;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #opened: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #openPromise: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #resolveSocketClosed: (() => void) | undefined;

  constructor(options: ClientOptions) {
    super();
    this.#options = options;
    this.#urls = typeof options.url === 'string' ? [options.url] : [...options.url];
    const ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (ctor === undefined) {
      throw new ProtomeshError(
        NO_WEBSOCKET,
        'no WebSocket implementation: pass one, e.g. WebSocket from the ws package',
      );
    }
    this.#WebSocket = ctor;
    this.clientId = options.clientId ?? randomId();
  }

  /** The connection state. */
  get state(): ClientState {
    return this.#state;
  }

  /** Subscriptions held (they are re-established after every reconnect). */
  get subscriptions(): ReadonlyMap<string, Subscription> {
    return this.#subs;
  }

  /** Connects (once); resolves when the first connection is open and authenticated. */
  connect(): Promise<void> {
    if (this.#openPromise === undefined) {
      this.#openPromise = new Promise((resolve, reject) => {
        this.#opened = { resolve, reject };
      });
      this.#open();
    }
    return this.#openPromise;
  }

  /**
   * Subscribes to `filter` (MQTT syntax). Works before `connect()` resolves; the returned
   * subscription's `ready` says whether the server accepted it.
   */
  subscribe(filter: string, options: SubscribeOptions = {}): Subscription {
    const existing = this.#subs.get(filter);
    if (existing) return existing;
    const sub = new Subscription(this, filter, options);
    this.#subs.set(filter, sub);
    if (this.#state === 'open') this.#sendSubscribe(sub);
    return sub;
  }

  /** Removes a subscription. */
  async unsubscribe(sub: Subscription): Promise<void> {
    sub.active = false;
    if (this.#subs.get(sub.filter) === sub) this.#subs.delete(sub.filter);
    if (this.#state === 'open') await this.#request({ op: 'unsub', filter: sub.filter });
  }

  /**
   * Publishes `payload` (a string is sent as UTF-8 text, bytes as a binary frame) and resolves
   * with the server's ack: for QoS 1 once the message is stored. A QoS 1 publish survives
   * reconnects (resent with the same id, stored once) until `timeoutMs`.
   */
  publish(topic: string, payload: string | Uint8Array, options: PublishOptions = {}): Promise<PublishResult> {
    const header: Record<string, unknown> = { op: 'pub', topic };
    const qos = options.qos ?? 0;
    if (qos === 1) header.qos = 1;
    if (options.retain) header.retain = true;
    if (options.contentType !== undefined) header.contentType = options.contentType;
    return this.#publish(header, payload, qos, options.timeoutMs);
  }

  /** Publishes a JSON value (`data`, content type application/json). */
  publishJson(topic: string, value: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    const header: Record<string, unknown> = { op: 'pub', topic, data: value };
    const qos = options.qos ?? 0;
    if (qos === 1) header.qos = 1;
    if (options.retain) header.retain = true;
    if (options.contentType !== undefined) header.contentType = options.contentType;
    return this.#publish(header, undefined, qos, options.timeoutMs);
  }

  async #publish(
    header: Record<string, unknown>,
    payload: string | Uint8Array | undefined,
    qos: 0 | 1,
    timeoutMs = this.#options.publishTimeoutMs ?? 10_000,
  ): Promise<PublishResult> {
    const id = this.#newId();
    header.id = id;
    if (qos === 1) header.msgId = id; // idempotency key: scoped by clientId on the server
    let frame: string | Uint8Array;
    if (payload === undefined) frame = JSON.stringify(header);
    else if (typeof payload === 'string') frame = JSON.stringify({ ...header, text: payload });
    else if (this.#options.binary === false) frame = JSON.stringify({ ...header, b64: toBase64(payload) });
    else frame = encodeBinary(header, payload);
    const reply = await this.#send(id, frame, timeoutMs, qos === 1);
    return { seq: typeof reply.seq === 'number' ? reply.seq : undefined, duplicate: reply.duplicate === true };
  }

  /** Closes the connection for good (1000) and rejects requests still waiting. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#setState('closed');
      clearTimeout(this.#reconnectTimer);
      clearTimeout(this.#refreshTimer);
      this.#failAll(new ProtomeshError(CLIENT_CLOSED, 'client closed'));
      this.#opened?.reject(new ProtomeshError(CLIENT_CLOSED, 'client closed'));
      this.#opened = undefined;
      const socket = this.#socket;
      if (socket !== undefined && socket.readyState <= OPEN) {
        const closed = new Promise<void>((resolve) => {
          this.#resolveSocketClosed = resolve;
        });
        socket.close(1000, 'client closed');
        await closed;
      }
    })();
    return this.#closed;
  }

  // --- connection ---------------------------------------------------------------------------

  #open(): void {
    if (this.#state === 'closed') return;
    this.#setState(this.#connectedOnce ? 'reconnecting' : 'connecting');
    const url = this.#urls[this.#urlIndex % this.#urls.length]!;
    let socket: WebSocketLike;
    try {
      socket = new this.#WebSocket(url, SUBPROTOCOL);
    } catch (error) {
      this.#onClose(1006, error instanceof Error ? error.message : String(error));
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.#socket = socket;
    socket.onopen = () => void this.#handshake(socket);
    socket.onmessage = (event) => this.#onFrame(event.data);
    socket.onerror = () => undefined; // a close follows
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      this.#onClose(event.code, event.reason);
    };
  }

  async #handshake(socket: WebSocketLike): Promise<void> {
    const connect: Record<string, unknown> = {
      op: 'connect',
      client: this.clientId,
      binary: this.#options.binary ?? true,
    };
    try {
      const token = await this.#token();
      if (token !== undefined) connect.token = token;
      if (this.#socket !== socket || this.#state === 'closed') return;
      const reply = await this.#request(connect, socket);
      this.#attempt = 0;
      this.#setState('open');
      this.#scheduleRefresh(reply.expiresAt);
      const reconnected = this.#connectedOnce;
      this.#connectedOnce = true;
      this.emit('open', { connection: String(reply.conn), reconnected });
      this.#opened?.resolve();
      this.#opened = undefined;
      for (const sub of this.#subs.values()) this.#sendSubscribe(sub);
      // QoS 1 publishes that got no ack before the disconnect: same id, stored once.
      for (const pending of this.#pending.values()) if (pending.resend) socket.send(pending.frame);
    } catch (error) {
      if (this.#socket === socket) this.emit('error', asError(error));
    }
  }

  async #token(): Promise<string | undefined> {
    const token = this.#options.token;
    return typeof token === 'function' ? await token() : token;
  }

  #scheduleRefresh(expiresAt: unknown): void {
    clearTimeout(this.#refreshTimer);
    if (typeof expiresAt !== 'number' || typeof this.#options.token !== 'function') return;
    const lead = this.#options.refreshBeforeMs ?? 30_000;
    const delay = Math.max(0, expiresAt - Date.now() - lead);
    this.#refreshTimer = setTimeout(() => void this.#refresh(), Math.min(delay, 2 ** 31 - 1));
  }

  async #refresh(): Promise<void> {
    try {
      const token = await this.#token();
      if (token === undefined || this.#state !== 'open') return;
      const reply = await this.#request({ op: 'refresh', token });
      this.#scheduleRefresh(reply.expiresAt);
    } catch (error) {
      this.emit('error', asError(error));
    }
  }

  #onClose(code: number, reason: string): void {
    clearTimeout(this.#refreshTimer);
    // Replies to requests sent on this socket will not come; QoS 1 publishes wait for a resend.
    for (const [id, pending] of this.#pending) {
      if (pending.resend) continue;
      clearTimeout(pending.timer);
      this.#pending.delete(id);
      pending.reject(new ProtomeshError(CLIENT_CLOSED, `connection closed (${code}) before the reply`));
    }
    if (this.#state === 'closed') {
      this.#resolveSocketClosed?.();
      return;
    }
    // A rejected token is final unless a token function can supply a new one.
    const reconnect =
      this.#options.reconnect !== false &&
      (shouldReconnect(code) || (code === CLOSE_UNAUTHORIZED && typeof this.#options.token === 'function'));
    this.emit('close', { code, reason, reconnect });
    if (!reconnect) {
      this.#setState('closed');
      this.#failAll(new ProtomeshError(CLIENT_CLOSED, `closed by the server (${code} ${reason})`));
      this.#opened?.reject(new ProtomeshError(CLIENT_CLOSED, `closed by the server (${code} ${reason})`));
      this.#opened = undefined;
      return;
    }
    const backoff = this.#options.reconnect || {};
    const initial = backoff.initialDelayMs ?? 200;
    const max = backoff.maxDelayMs ?? 10_000;
    const factor = backoff.factor ?? 2;
    const jitter = backoff.jitter ?? 0.5;
    const base = Math.min(max, initial * factor ** this.#attempt);
    const delayMs = Math.round(base * (1 - jitter * Math.random()));
    this.#attempt += 1;
    this.#urlIndex += 1;
    this.#setState('reconnecting');
    this.emit('reconnecting', {
      attempt: this.#attempt,
      delayMs,
      url: this.#urls[this.#urlIndex % this.#urls.length]!,
    });
    this.#reconnectTimer = setTimeout(() => this.#open(), delayMs);
  }

  #setState(state: ClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }

  // --- requests -----------------------------------------------------------------------------

  #newId(): string {
    this.#nextId += 1;
    return String(this.#nextId);
  }

  #request(fields: Record<string, unknown>, socket?: WebSocketLike): Promise<Record<string, unknown>> {
    const id = this.#newId();
    return this.#send(id, JSON.stringify({ ...fields, id }), this.#options.requestTimeoutMs ?? 10_000, false, socket);
  }

  #send(
    id: string,
    frame: string | Uint8Array,
    timeoutMs: number,
    resend: boolean,
    socket: WebSocketLike | undefined = this.#state === 'open' ? this.#socket : undefined,
  ): Promise<Record<string, unknown>> {
    if (this.#state === 'closed') return Promise.reject(new ProtomeshError(CLIENT_CLOSED, 'client closed'));
    if (socket === undefined && !resend) {
      return Promise.reject(new ProtomeshError(CLIENT_CLOSED, 'not connected'));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ProtomeshError(CLIENT_TIMEOUT, `no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { frame, resolve, reject, timer, resend });
      // Not connected: a QoS 1 publish goes out once the connection is back.
      if (socket !== undefined && socket.readyState === OPEN) socket.send(frame);
    });
  }

  #sendSubscribe(sub: Subscription): void {
    this.#request(sub.request()).then(
      (reply) => {
        if (!sub.active) return;
        const result: SubscribeResult = {
          seq: typeof reply.seq === 'number' ? reply.seq : 0,
          recovered: typeof reply.recovered === 'boolean' ? reply.recovered : undefined,
        };
        sub.subscribed(result);
        this.emit('subscribed', { filter: sub.filter, ...result });
      },
      (error: unknown) => {
        const failure = asError(error);
        // Refused by the server: the subscription is gone. A lost connection resubscribes later.
        if (failure.code !== CLIENT_CLOSED && failure.code !== CLIENT_TIMEOUT) {
          sub.active = false;
          if (this.#subs.get(sub.filter) === sub) this.#subs.delete(sub.filter);
          sub.refused(failure);
          this.emit('error', failure);
        }
      },
    );
  }

  #failAll(error: Error): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
  }

  // --- frames -------------------------------------------------------------------------------

  #onFrame(data: unknown): void {
    let fields: Record<string, unknown>;
    let payload: Uint8Array | undefined;
    try {
      ({ fields, payload } = decodeFrame(data));
    } catch {
      return;
    }
    const id = fields.id === undefined ? undefined : String(fields.id);
    switch (fields.op) {
      case 'msg':
        this.#onMessage(fields, payload);
        return;
      case 'ok':
      case 'pong': {
        const pending = id === undefined ? undefined : this.#pending.get(id);
        if (pending === undefined) return;
        clearTimeout(pending.timer);
        this.#pending.delete(id!);
        pending.resolve(fields);
        return;
      }
      case 'error': {
        const error = new ProtomeshError(String(fields.code), String(fields.message));
        const pending = id === undefined ? undefined : this.#pending.get(id);
        if (pending === undefined) {
          this.emit('error', error);
          return;
        }
        clearTimeout(pending.timer);
        this.#pending.delete(id!);
        pending.reject(error);
        return;
      }
    }
  }

  #onMessage(fields: Record<string, unknown>, binaryPayload: Uint8Array | undefined): void {
    const filter = String(fields.sub);
    const sub = this.#subs.get(filter);
    let payload: Uint8Array;
    if (binaryPayload !== undefined) payload = binaryPayload;
    else if (typeof fields.b64 === 'string') payload = fromBase64(fields.b64);
    else payload = utf8(typeof fields.text === 'string' ? fields.text : '');
    const seq = typeof fields.seq === 'number' ? fields.seq : undefined;
    const mustAck = fields.ack === true && seq !== undefined;
    let acked = false;
    const text = typeof fields.text === 'string' ? fields.text : undefined;
    const message: Message = {
      filter,
      topic: String(fields.topic),
      qos: fields.qos === 1 ? 1 : 0,
      seq,
      payload,
      contentType: typeof fields.contentType === 'string' ? fields.contentType : undefined,
      retain: fields.retain === true,
      origin: fields.origin === 'mqtt' || fields.origin === 'ws' ? fields.origin : undefined,
      redelivered: typeof fields.redelivered === 'number' ? fields.redelivered : undefined,
      text: () => text ?? new TextDecoder().decode(payload),
      json: <T>() => JSON.parse(text ?? new TextDecoder().decode(payload)) as T,
      ack: () => {
        if (!mustAck || acked) return;
        acked = true;
        sub?.acked(seq!);
        if (this.#state === 'open') this.#socket?.send(JSON.stringify({ op: 'ack', sub: filter, seq }));
      },
    };
    if (sub?.active) sub.deliver(message);
    this.emit('message', message);
  }
}

function asError(error: unknown): ProtomeshError {
  if (error instanceof ProtomeshError) return error;
  return new ProtomeshError('PM_WS_CLIENT_ERROR', error instanceof Error ? error.message : String(error));
}

/** 16 random hex digits (Web Crypto, in browsers and Node). */
function randomId(): string {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
