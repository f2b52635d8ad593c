import type { Duplex } from 'node:stream';
import { generate, type Packet, type PacketCmd, parser } from 'mqtt-packet';

/**
 * A scripted MQTT client for unit tests: sends packets built with mqtt-packet's `generate`
 * and collects what the broker sends, parsed with mqtt-packet's parser.
 */
export class TestClient {
  readonly stream: Duplex;
  readonly version: 3 | 4 | 5;
  readonly received: Packet[] = [];
  /** Resolves when the broker's side of the connection has ended. */
  readonly closed: Promise<void>;
  #waiters: Array<() => void> = [];
  #isClosed = false;
  #reading = 0;

  constructor(stream: Duplex, version: 3 | 4 | 5 = 4) {
    this.stream = stream;
    this.version = version;
    const p = parser({ protocolVersion: version });
    p.on('packet', (packet: Packet) => {
      this.received.push(packet);
      this.#wake();
    });
    p.on('error', (error: Error) => {
      throw error;
    });
    stream.on('data', (chunk: Buffer) => p.parse(chunk));
    stream.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      const done = () => {
        this.#isClosed = true;
        this.#wake();
        resolve();
      };
      stream.once('end', done);
      stream.once('close', done);
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Sends one packet encoded for this client's protocol version. */
  send(packet: Packet): void {
    this.stream.write(generate(packet, { protocolVersion: this.version }));
  }

  /** Sends raw bytes. */
  write(bytes: Buffer | number[]): void {
    this.stream.write(Buffer.from(bytes));
  }

  /** The next unread packet (optionally of one type, skipping nothing: a different type fails). */
  async next<C extends PacketCmd>(cmd?: C, timeoutMs = 2_000): Promise<Extract<Packet, { cmd: C }>> {
    const deadline = Date.now() + timeoutMs;
    while (this.#reading >= this.received.length) {
      if (this.#isClosed) throw new Error(`connection closed while waiting for ${cmd ?? 'a packet'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${cmd ?? 'a packet'}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const packet = this.received[this.#reading++]!;
    if (cmd && packet.cmd !== cmd) throw new Error(`expected ${cmd}, got ${packet.cmd}: ${JSON.stringify(packet)}`);
    return packet as Extract<Packet, { cmd: C }>;
  }

  /** Packets received and not yet read by `next`. */
  unread(): Packet[] {
    return this.received.slice(this.#reading);
  }

  /** Waits until the broker closes the connection; returns the packets it sent before closing. */
  async waitClosed(timeoutMs = 3_000): Promise<Packet[]> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('connection not closed in time')), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return this.unread();
  }

  /** Closes the client's side. */
  end(): void {
    this.stream.end();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
