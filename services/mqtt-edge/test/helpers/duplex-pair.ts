import { Duplex } from 'node:stream';

/**
 * One end of an in-memory connection. Bytes written here are pushed to the peer's readable
 * side; when the peer does not read, the write callback is held, so `writableLength` grows
 * as it would on a socket to a client that stopped reading.
 */
class PairEnd extends Duplex {
  peer!: PairEnd;
  #heldCallback: (() => void) | undefined;
  #eofSent = false;

  constructor() {
    super({ allowHalfOpen: false });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.peer.destroyed || this.peer.push(chunk)) callback();
    else this.peer.#heldCallback = callback;
  }

  override _read(): void {
    const held = this.#heldCallback;
    this.#heldCallback = undefined;
    held?.();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#sendEof();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Like a socket: the other side sees the connection end.
    this.#sendEof();
    const held = this.#heldCallback;
    this.#heldCallback = undefined;
    held?.();
    callback(error);
  }

  #sendEof(): void {
    if (this.#eofSent) return;
    this.#eofSent = true;
    if (!this.peer.destroyed) this.peer.push(null);
  }
}

/** Two connected in-memory Duplex streams (Node 20 has no `stream.duplexPair`). */
export function duplexPair(): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
