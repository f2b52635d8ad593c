/**
 * The durable JetStream consumers of one connection's persistent session: one per class-1
 * subject of its QoS ≥ 1 subscriptions (nats-server 2.9 allows one filter subject per
 * consumer). They hold the session's place in the tier stream while the client is away; the
 * replica the client returns to attaches to them by name.
 */
import type { Backbone, ConsumerHandle, DeliveredMessage, DeliverFrom } from '@protomesh/backbone';
import type { Logger } from '@protomesh/telemetry';

/** Settings of session consumers. */
export interface ConsumerOptions {
  /** Redelivery of a message the client has not acknowledged, in ms (after a replica crash). */
  readonly ackWaitMs: number;
  /** Messages handed to the replica and not yet acknowledged, per consumer. */
  readonly maxAckPending: number;
}

export class ConsumerSet {
  readonly #backbone: Backbone;
  readonly #stream: string;
  readonly #options: ConsumerOptions;
  readonly #logger: Logger;
  readonly #onMessage: (subject: string, message: DeliveredMessage) => void;
  readonly #handles = new Map<string, Promise<ConsumerHandle | undefined>>();
  #closed = false;

  constructor(
    backbone: Backbone,
    stream: string,
    options: ConsumerOptions,
    logger: Logger,
    onMessage: (subject: string, message: DeliveredMessage) => void,
  ) {
    this.#backbone = backbone;
    this.#stream = stream;
    this.#options = options;
    this.#logger = logger;
    this.#onMessage = onMessage;
  }

  /** Subjects with a running consumer. */
  get subjects(): string[] {
    return [...this.#handles.keys()];
  }

  /** Starts (creating when needed) the consumer `durable` for `subject`; resolves once it exists. */
  async attach(subject: string, durable: string, deliver: DeliverFrom): Promise<void> {
    if (this.#closed) return;
    let pending = this.#handles.get(subject);
    if (!pending) {
      pending = this.#backbone
        .consume(
          {
            stream: this.#stream,
            durable,
            filterSubject: subject,
            deliver,
            ackWaitMs: this.#options.ackWaitMs,
            maxAckPending: this.#options.maxAckPending,
          },
          (message) => this.#onMessage(subject, message),
        )
        .then(
          async (handle) => {
            if (this.#closed || this.#handles.get(subject) !== pending) {
              await handle.stop();
              return undefined;
            }
            return handle;
          },
          (error: unknown) => {
            this.#handles.delete(subject);
            throw error;
          },
        );
      this.#handles.set(subject, pending);
    }
    await pending;
  }

  /** Stops the consumer of `subject`; with `remove`, deletes the durable too. */
  async detach(subject: string, durable: string, remove: boolean): Promise<void> {
    const pending = this.#handles.get(subject);
    this.#handles.delete(subject);
    const handle = await pending?.catch(() => undefined);
    await handle?.stop();
    if (remove) await deleteQuietly(this.#backbone, this.#stream, durable, this.#logger);
  }

  /** Stops every consumer (the durables stay for the session's next connection). */
  async stopAll(): Promise<void> {
    this.#closed = true;
    const pending = [...this.#handles.values()];
    this.#handles.clear();
    await Promise.all(
      pending.map(async (p) => {
        const handle = await p.catch(() => undefined);
        await handle?.stop();
      }),
    );
  }
}

/** Deletes a durable consumer, logging (not throwing) failures: leftovers are swept later. */
export async function deleteQuietly(
  backbone: Backbone,
  stream: string,
  durable: string,
  logger: Logger,
): Promise<void> {
  try {
    await backbone.deleteConsumer(stream, durable);
  } catch (error) {
    logger.warn({ err: error, stream, consumer: durable }, 'session consumer not deleted');
  }
}
