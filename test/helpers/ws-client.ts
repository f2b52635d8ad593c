import WebSocket from 'ws';

/** A frame received from ws-edge. */
export interface Frame {
  readonly op: string;
  readonly id?: string | number;
  readonly topic?: string;
  readonly text?: string;
  readonly b64?: string;
  readonly code?: string;
  readonly [key: string]: unknown;
}

/** A minimal test client for the Protomesh WebSocket protocol v1 (see docs/ws-protocol.md). */
export class TestWsClient {
  readonly socket: WebSocket;
  readonly messages: Frame[] = [];
  readonly errors: Frame[] = [];
  closed: { code: number; reason: string } | undefined;
  #nextId = 1;
  readonly #pending = new Map<string | number, { resolve: (f: Frame) => void; reject: (e: Error) => void }>();

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      const frame = JSON.parse(String(data)) as Frame;
      if (frame.op === 'msg') this.messages.push(frame);
      if (frame.op === 'error') this.errors.push(frame);
      if (frame.id !== undefined && this.#pending.has(frame.id)) {
        const waiter = this.#pending.get(frame.id)!;
        this.#pending.delete(frame.id);
        if (frame.op === 'error') waiter.reject(new Error(`${frame.code}: ${String(frame.message)}`));
        else waiter.resolve(frame);
      }
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const waiter of this.#pending.values()) waiter.reject(new Error(`closed ${code}`));
      this.#pending.clear();
    });
  }

  static connect(url: string): Promise<TestWsClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, 'protomesh.v1');
      const client = new TestWsClient(socket);
      socket.once('open', () => resolve(client));
      socket.once('error', reject);
    });
  }

  /** Sends a request with a fresh id and resolves with the server's `ok` frame. */
  request(frame: Record<string, unknown>): Promise<Frame> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ ...frame, id }));
    });
  }

  subscribe(filter: string): Promise<Frame> {
    return this.request({ op: 'sub', filter });
  }

  publish(topic: string, text: string, qos: 0 | 1 = 1): Promise<Frame> {
    return this.request({ op: 'pub', topic, qos, text });
  }

  sendRaw(data: string | Buffer): void {
    this.socket.send(data);
  }

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }
}
