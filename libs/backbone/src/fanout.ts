import type { Backbone, BackboneMessage, Subscription } from './contract.js';

/** Receives one backbone message together with every local member subscribed to its subject. */
export type FanoutHandler<M> = (message: BackboneMessage, members: ReadonlySet<M>) => void;

interface Entry<M> {
  readonly subscription: Subscription;
  readonly members: Set<M>;
}

/**
 * Local fan-out for an edge: one backbone subscription per distinct subject, however many
 * local connections want it, so the backbone sends each message to a replica once and the
 * edge serializes it once per fan-out. Members are typically connections.
 */
export class LocalFanout<M> {
  readonly #backbone: Backbone;
  readonly #handler: FanoutHandler<M>;
  readonly #bySubject = new Map<string, Entry<M>>();
  readonly #byMember = new Map<M, Set<string>>();

  constructor(backbone: Backbone, handler: FanoutHandler<M>) {
    this.#backbone = backbone;
    this.#handler = handler;
  }

  /** Number of distinct backbone subscriptions held. */
  get subscriptions(): number {
    return this.#bySubject.size;
  }

  /** `member` starts receiving messages on `subject` (wildcards allowed). Idempotent. */
  add(subject: string, member: M): void {
    let entry = this.#bySubject.get(subject);
    if (!entry) {
      const members = new Set<M>();
      const subscription = this.#backbone.subscribe(subject, (message) => {
        if (members.size > 0) this.#handler(message, members);
      });
      entry = { subscription, members };
      this.#bySubject.set(subject, entry);
    }
    entry.members.add(member);
    let subjects = this.#byMember.get(member);
    if (!subjects) {
      subjects = new Set();
      this.#byMember.set(member, subjects);
    }
    subjects.add(subject);
  }

  /** `member` stops receiving `subject`; the backbone subscription goes when its last member does. */
  remove(subject: string, member: M): void {
    const entry = this.#bySubject.get(subject);
    if (entry?.members.delete(member) && entry.members.size === 0) {
      entry.subscription.unsubscribe();
      this.#bySubject.delete(subject);
    }
    const subjects = this.#byMember.get(member);
    if (subjects?.delete(subject) && subjects.size === 0) this.#byMember.delete(member);
  }

  /** Removes `member` from every subject (on disconnect). */
  removeMember(member: M): void {
    for (const subject of [...(this.#byMember.get(member) ?? [])]) this.remove(subject, member);
  }

  /** Drops every subscription. */
  close(): void {
    for (const entry of this.#bySubject.values()) entry.subscription.unsubscribe();
    this.#bySubject.clear();
    this.#byMember.clear();
  }
}
