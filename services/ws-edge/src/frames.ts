import { binaryDeliveryFrame, type Delivery, deliveryFrame, utf8Text } from './protocol.js';

/** Who a {@link FrameSet} is written to: the form it wants and the one write path. */
export interface FrameSink {
  /** True when the client asked for binary deliveries (`binary: true` in `connect`). */
  readonly binary: boolean;
  /** The connection's write path; false when the frame was not written. */
  write(frame: Buffer, binary: boolean): boolean;
}

/**
 * The frames of one delivery, serialized at most once each and shared by every connection
 * it goes to: the JSON text frame (payload as `text`, or as `b64` when it is not UTF-8) and,
 * for a payload that is not UTF-8, the binary form for clients that asked for it.
 */
export class FrameSet {
  readonly delivery: Delivery;
  /** The payload as text when it is valid UTF-8 (decoded once per message, not per group). */
  readonly #text: string | undefined;
  #textFrame: Buffer | undefined;
  #binaryFrame: Buffer | undefined;

  constructor(delivery: Delivery, text: string | undefined = utf8Text(delivery.payload)) {
    this.delivery = delivery;
    this.#text = text;
  }

  /** Stream position of the message (QoS 1), else undefined. */
  get seq(): number | undefined {
    return this.delivery.seq;
  }

  /** Writes the form `sink` wants; false when it was not written. */
  writeTo(sink: FrameSink): boolean {
    if (sink.binary && this.#text === undefined) {
      this.#binaryFrame ??= binaryDeliveryFrame(this.delivery);
      return sink.write(this.#binaryFrame, true);
    }
    this.#textFrame ??= Buffer.from(deliveryFrame(this.delivery, this.#text), 'utf8');
    return sink.write(this.#textFrame, false);
  }
}
