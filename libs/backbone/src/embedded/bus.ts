/**
 * In-process NATS core semantics: wildcard subscriptions and queue groups. Each message goes
 * to every plain subscriber whose pattern matches and to exactly one member of each queue
 * group with a matching member (groups are by queue name across patterns, as in
 * nats-server), chosen round-robin. Delivery is asynchronous and in publish order per
 * subscription.
 */
import { SubjectIndex } from '@protomesh/topic-map';
import type { BackboneMessage } from '../contract.js';
import type { BackboneLogger } from '../logger.js';
import { Deferred } from './timers.js';

/** Messages one subscription handles per event-loop turn before yielding. */
const DELIVERIES_PER_TURN = 1_000;
/** Subjects whose matching subscriptions are remembered; the cache starts over when full. */
const ROUTE_CACHE_SIZE = 10_000;

/** Who gets a message on one subject: plain subscribers, and the members of each queue group. */
interface SubjectRoute {
  readonly plain: readonly LocalSubscription[];
  /** Members by queue name, by subscription age (so the turn counter walks them fairly). */
  readonly groups: ReadonlyArray<readonly [queue: string, members: readonly LocalSubscription[]]>;
}

class LocalSubscription {
  readonly id: number;
  readonly pattern: string;
  readonly queue: string | undefined;
  readonly #onMessage: (message: BackboneMessage) => void;
  readonly #logger: BackboneLogger;
  /** Waiting messages; `#head` is the next to deliver (shifting an array is O(n)). */
  #mailbox: BackboneMessage[] = [];
  #head = 0;
  readonly #drain = new Deferred(() => this.#deliver());
  #closed = false;

  constructor(
    id: number,
    pattern: string,
    queue: string | undefined,
    onMessage: (message: BackboneMessage) => void,
    logger: BackboneLogger,
  ) {
    this.id = id;
    this.pattern = pattern;
    this.queue = queue;
    this.#onMessage = onMessage;
    this.#logger = logger;
  }

  get idle(): boolean {
    return this.#head >= this.#mailbox.length;
  }

  enqueue(message: BackboneMessage): void {
    if (this.#closed) return;
    this.#mailbox.push(message);
    this.#drain.request();
  }

  close(): void {
    this.#closed = true;
    this.#mailbox = [];
    this.#head = 0;
    this.#drain.cancel();
  }

  #deliver(): void {
    let n = 0;
    while (!this.#closed && !this.idle && n++ < DELIVERIES_PER_TURN) {
      const message = this.#mailbox[this.#head++]!;
      try {
        this.#onMessage(message);
      } catch (err) {
        this.#logger.error({ subject: message.subject, err }, 'subscriber failed');
      }
    }
    if (this.idle) {
      this.#mailbox = [];
      this.#head = 0;
    } else if (!this.#closed) {
      this.#drain.request();
    }
  }
}

/** The local message bus of one embedded backbone. */
export class Bus {
  readonly #index = new SubjectIndex<LocalSubscription>();
  readonly #subs = new Set<LocalSubscription>();
  /** Round-robin position per queue group name. */
  readonly #turns = new Map<string, number>();
  readonly #logger: BackboneLogger;
  /** Routes of recent subjects; cleared whenever a subscription comes or goes. */
  readonly #routes = new Map<string, SubjectRoute>();
  #nextId = 1;

  constructor(logger: BackboneLogger) {
    this.#logger = logger;
  }

  /** Subscribes; the returned function unsubscribes (idempotent). Pattern and queue are validated by the caller. */
  subscribe(pattern: string, onMessage: (message: BackboneMessage) => void, queue?: string): () => void {
    const sub = new LocalSubscription(this.#nextId++, pattern, queue, onMessage, this.#logger);
    this.#index.add(pattern, sub);
    this.#subs.add(sub);
    this.#routes.clear();
    return () => {
      if (!this.#subs.delete(sub)) return;
      this.#index.remove(pattern, sub);
      this.#routes.clear();
      sub.close();
    };
  }

  /** True when some subscription matches `subject`. */
  wants(subject: string): boolean {
    const route = this.#route(subject);
    return route.plain.length > 0 || route.groups.length > 0;
  }

  /** Hands `message` to the matching subscribers (asynchronously). */
  publish(message: BackboneMessage): void {
    const route = this.#route(message.subject);
    for (const sub of route.plain) sub.enqueue(message);
    for (const [queue, members] of route.groups) {
      const turn = this.#turns.get(queue) ?? 0;
      this.#turns.set(queue, (turn + 1) % Number.MAX_SAFE_INTEGER);
      members[turn % members.length]!.enqueue(message);
    }
  }

  #route(subject: string): SubjectRoute {
    let route = this.#routes.get(subject);
    if (route !== undefined) return route;
    const plain: LocalSubscription[] = [];
    const groups = new Map<string, LocalSubscription[]>();
    // A subscription added under one pattern appears once; the Set guards anyway.
    for (const sub of new Set(this.#index.match(subject))) {
      if (sub.queue === undefined) {
        plain.push(sub);
        continue;
      }
      let members = groups.get(sub.queue);
      if (members === undefined) {
        members = [];
        groups.set(sub.queue, members);
      }
      members.push(sub);
    }
    for (const members of groups.values()) members.sort((a, b) => a.id - b.id);
    route = { plain, groups: [...groups] };
    if (this.#routes.size >= ROUTE_CACHE_SIZE) this.#routes.clear();
    this.#routes.set(subject, route);
    return route;
  }

  /** True when no subscription has a message waiting. */
  get idle(): boolean {
    for (const sub of this.#subs) if (!sub.idle) return false;
    return true;
  }

  close(): void {
    for (const sub of this.#subs) sub.close();
    this.#subs.clear();
    this.#turns.clear();
  }
}
