/**
 * Carrying out a crossing plan: publish (target QoS 0) or append (QoS ≥ 1) in the target
 * tier, write the target tier's retained store when the message is retained, and the
 * dead-letter subject for a message that failed its transform.
 */
import type { Backbone, HeaderEntries, MeshLayout } from '@protomesh/backbone';
import type { Tier } from '@protomesh/topic-map';
import type { CrossingPlan } from './crossing.js';
import type { CompiledRoute } from './routes.js';

/** Headers a dead letter carries besides the source's own. */
export const DEAD_LETTER_HEADER = {
  /** Id of the route the message failed on. */
  route: 'Mesh-Dead-Letter-Route',
  /** What went wrong (one line). */
  error: 'Mesh-Dead-Letter-Error',
  /** Source tier and topic (percent-encoded). */
  tier: 'Mesh-Dead-Letter-Tier',
  topic: 'Mesh-Dead-Letter-Topic',
} as const;

/** The dead-letter subject of a route: `<prefix>.deadletter.<route slug>`. */
export function deadLetterSubject(prefix: string, route: CompiledRoute): string {
  return `${prefix}.deadletter.${route.slug}`;
}

/**
 * Publishes a message that failed `route` to the route's dead-letter subject (NATS core,
 * at most once) with the error and route in headers. Never throws: a dead letter that
 * cannot be published must not block the route.
 */
export function publishDeadLetter(
  backbone: Backbone,
  prefix: string,
  route: CompiledRoute,
  source: { tier: Tier; topic: string; payload: Uint8Array; headers: HeaderEntries | undefined },
  error: string,
): boolean {
  const headers: Array<[string, string]> = [];
  for (const [name, value] of source.headers ?? []) {
    if (!name.toLowerCase().startsWith('nats-')) headers.push([name, value]);
  }
  headers.push(
    [DEAD_LETTER_HEADER.route, route.id],
    // Header values carry no CR/LF (contract); errors are one line anyway.
    [DEAD_LETTER_HEADER.error, error.replace(/[\r\n]+/g, ' ').slice(0, 1_000)],
    [DEAD_LETTER_HEADER.tier, source.tier],
    [DEAD_LETTER_HEADER.topic, encodeURIComponent(source.topic)],
  );
  try {
    backbone.publish(deadLetterSubject(prefix, route), source.payload, headers);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes of the retained store, kept in order per subject: appends go out at once (one
 * connection keeps their order), a clear (purge, for an empty payload) waits for the
 * writes before it and the writes after it wait for the clear.
 */
export class RetainedWriter {
  readonly #backbone: Backbone;
  readonly #stream: string;
  readonly #last = new Map<string, { done: Promise<void>; purge: boolean }>();

  constructor(backbone: Backbone, layout: MeshLayout) {
    this.#backbone = backbone;
    this.#stream = layout.streams.retained.name;
  }

  /** Stores (or, for an empty payload, clears) the retained message of `subject`. */
  write(subject: string, payload: Uint8Array, headers: HeaderEntries, msgId: string | undefined): Promise<void> {
    const previous = this.#last.get(subject);
    const purge = payload.byteLength === 0;
    const run = async () => {
      if (purge) await this.#backbone.purge(this.#stream, subject);
      else {
        await this.#backbone.append(subject, payload, {
          headers,
          expectStream: this.#stream,
          ...(msgId === undefined ? {} : { msgId }),
        });
      }
    };
    // Wait only when ordering needs it: behind a pending purge, or a purge behind anything.
    const wait = previous && (purge || previous.purge) ? previous.done.catch(() => undefined) : undefined;
    const done = wait ? wait.then(run) : run();
    const entry = { done, purge };
    this.#last.set(subject, entry);
    const forget = () => {
      if (this.#last.get(subject) === entry) this.#last.delete(subject);
    };
    done.then(forget, forget);
    return done;
  }
}

/** A crossing plan that crosses. */
export type Crossing = Extract<CrossingPlan, { kind: 'cross' }>;

/**
 * Carries `plan` into the target tier; resolves once the target stored it (QoS ≥ 1) or
 * handed it to NATS (QoS 0), and the retained store is written. `msgId` (QoS 1 sources)
 * makes a repeated crossing store nothing new.
 */
export function carry(
  backbone: Backbone,
  layout: MeshLayout,
  retained: RetainedWriter,
  plan: Crossing,
  msgId: string | undefined,
): Promise<unknown> {
  let target: Promise<unknown>;
  try {
    if (plan.qos === 0) {
      backbone.publish(plan.subject, plan.payload, plan.headers);
      target = Promise.resolve();
    } else {
      const expectStream = layout.streams[plan.tier].name;
      target = backbone.append(
        plan.subject,
        plan.payload,
        msgId === undefined ? { headers: plan.headers, expectStream } : { headers: plan.headers, expectStream, msgId },
      );
    }
  } catch (error) {
    return Promise.reject(error);
  }
  if (plan.retainedSubject === undefined) return target;
  const stored = retained.write(plan.retainedSubject, plan.payload, plan.headers, msgId && `${msgId}:retained`);
  return Promise.all([target, stored]);
}
