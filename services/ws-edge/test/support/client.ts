import type { WebSocket } from 'ws';

/** A server frame as received by a test client. */
export type Frame = Record<string, unknown> & { op: string };

/** How a test client's connection ended. */
export interface Closed {
  readonly code: number;
  readonly reason: string;
}

/**
 * Wraps a `ws` client (from `injectWS` or `new WebSocket`) for tests: frames are queued so
 * `next()` never misses one, and `closed` resolves with the close code.
 */
export class TestClient {
  readonly ws: WebSocket;
  readonly closed: Promise<Closed>;
  readonly #queue: Frame[] = [];
  readonly #waiters: Array<(frame: Frame) => void> = [];

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data, isBinary) => {
      const frame = isBinary ? decodeBinary(data as Buffer) : (JSON.parse(String(data)) as Frame);
      const waiter = this.#waiters.shift();
      if (waiter) waiter(frame);
      else this.#queue.push(frame);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    ws.on('error', () => {});
  }

  /** Sends a request object as JSON. */
  send(request: unknown): void {
    this.ws.send(JSON.stringify(request));
  }

  /** Sends raw text or bytes. */
  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** The next frame (waits up to `timeoutMs`). */
  next(timeoutMs = 5_000): Promise<Frame> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (frame: Frame) => {
        clearTimeout(timer);
        resolve(frame);
      };
      this.#waiters.push(waiter);
    });
  }

  /** Frames received and not yet taken. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Sends `request` and returns the next frame (the reply when nothing else is in flight). */
  async request(request: Record<string, unknown>): Promise<Frame> {
    this.send(request);
    return this.next();
  }

  /** Round trip: after it, every frame the server sent before the pong has been received. */
  async barrier(): Promise<Frame[]> {
    const id = `barrier-${Math.random()}`;
    this.send({ op: 'ping', id });
    const before: Frame[] = [];
    for (;;) {
      const frame = await this.next();
      if (frame.op === 'pong' && frame.id === id) return before;
      before.push(frame);
    }
  }

  /** The next frame with op `msg`; other frames (replies) are kept in `others`. */
  async nextMsg(timeoutMs = 5_000, others: Frame[] = []): Promise<Frame> {
    for (;;) {
      const frame = await this.next(timeoutMs);
      if (frame.op === 'msg') return frame;
      others.push(frame);
    }
  }

  /** Frames up to and including the first that matches `match` (e.g. the reply to a request). */
  async until(match: (frame: Frame) => boolean, timeoutMs = 5_000): Promise<Frame[]> {
    const frames: Frame[] = [];
    for (;;) {
      const frame = await this.next(timeoutMs);
      frames.push(frame);
      if (match(frame)) return frames;
    }
  }

  /** Closes (if open) and waits for the close. */
  async close(): Promise<void> {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close();
    const timer = setTimeout(() => this.ws.terminate(), 1_000);
    await this.closed;
    clearTimeout(timer);
  }
}

/** A binary frame (uint32 BE header length, JSON header, payload) as a frame with `payload` bytes and `binary: true`. */
function decodeBinary(data: Buffer): Frame {
  const length = data.readUInt32BE(0);
  const header = JSON.parse(data.subarray(4, 4 + length).toString('utf8')) as Frame;
  return { ...header, payload: Buffer.from(data.subarray(4 + length)), binary: true };
}
