/**
 * Shared subscriptions `$share/<group>/<filter>` (MQTT 5 §4.8.2; accepted from 3.1.1 clients
 * too): each message goes to one member of the group, across replicas.
 *
 * - QoS 0 traffic (class-0 subjects): one NATS queue subscription per replica, queue group
 *   `<prefix>.share.<group>.<filter hash>`, so NATS picks one replica; the replica picks one
 *   local member round-robin.
 * - QoS 1/2 traffic (class-1 subjects): one durable JetStream consumer per (group, filter,
 *   subject) that every member on every replica pulls from, so a message is handed to one
 *   member and comes back (`nak`) when that member disconnects before acknowledging it.
 *
 * Group membership is counted in the sessions bucket (`g.<hash>`), so the durable consumers
 * are deleted when the last member anywhere leaves.
 */
import {
  type Backbone,
  type BackboneMessage,
  type ConsumerHandle,
  type DeliveredMessage,
  encodeKey,
  type KvBucket,
  KvConflictError,
  type MeshLayout,
  type Subscription,
} from '@protomesh/backbone';
import type { Logger } from '@protomesh/telemetry';
import { filterToSubjects } from '@protomesh/topic-map';
import { deleteQuietly } from './session/consumers.js';
import { sharedConsumerName, shortHash } from './session/record.js';

/** A local member of a shared subscription (a connection). */
export interface SharedMember {
  readonly clientId: string;
  /** Offers a message; false when the member cannot take it now (closing). */
  deliverShared(shareFilter: string, message: BackboneMessage, stored: DeliveredMessage | undefined): boolean;
}

interface Group {
  readonly shareFilter: string;
  readonly members: SharedMember[];
  next: number;
  readonly live: Subscription[];
  readonly consumers: Array<Promise<ConsumerHandle | undefined>>;
  readonly durables: string[];
}

/** Settings of shared consumers. */
export interface SharedOptions {
  readonly ackWaitMs: number;
  readonly maxAckPending: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SharedSubscriptions {
  readonly #backbone: Backbone;
  readonly #layout: MeshLayout;
  readonly #stem: string;
  readonly #kv: Promise<KvBucket>;
  readonly #node: string;
  readonly #options: SharedOptions;
  readonly #logger: Logger;
  readonly #groups = new Map<string, Group>();
  /** Joins and leaves of one group on this replica run in order. */
  readonly #tails = new Map<string, Promise<void>>();

  constructor(
    backbone: Backbone,
    layout: MeshLayout,
    stem: string,
    kv: Promise<KvBucket>,
    node: string,
    options: SharedOptions,
    logger: Logger,
  ) {
    this.#backbone = backbone;
    this.#layout = layout;
    this.#stem = stem;
    this.#kv = kv;
    this.#node = node;
    this.#options = options;
    this.#logger = logger;
  }

  /** Local members of a group (for tests and metrics). */
  members(shareFilter: string): number {
    return this.#groups.get(shareFilter)?.members.length ?? 0;
  }

  /** `member` joins `$share/group/filter`; resolves once it receives the group's messages. */
  join(shareFilter: string, group: string, filter: string, member: SharedMember): Promise<void> {
    return this.#serial(shareFilter, async () => {
      await this.#membership(group, filter, (members) => {
        members[member.clientId] = this.#node;
      });
      let entry = this.#groups.get(shareFilter);
      if (!entry) {
        entry = await this.#open(shareFilter, group, filter);
        this.#groups.set(shareFilter, entry);
      }
      if (!entry.members.includes(member)) entry.members.push(member);
    });
  }

  /**
   * `member` stops receiving; with `forget`, it also leaves the group for good (unsubscribe,
   * end of its session), and the last member to leave deletes the group's consumers.
   */
  leave(shareFilter: string, group: string, filter: string, member: SharedMember, forget: boolean): Promise<void> {
    return this.#serial(shareFilter, async () => {
      const entry = this.#groups.get(shareFilter);
      if (entry) {
        const at = entry.members.indexOf(member);
        if (at >= 0) entry.members.splice(at, 1);
        if (entry.members.length === 0) {
          this.#groups.delete(shareFilter);
          await this.#stop(entry);
        }
      }
      if (!forget) return;
      const empty = await this.#membership(group, filter, (members) => {
        delete members[member.clientId];
      });
      if (empty) {
        for (const durable of this.#durables(group, filter)) {
          await deleteQuietly(this.#backbone, this.#layout.streams.mqtt.name, durable, this.#logger);
        }
      }
    });
  }

  /**
   * Removes `clientId` from the group for good without a local member (its session ended
   * while it was not connected here); the last member deletes the group's consumers.
   */
  forget(group: string, filter: string, clientId: string, onlyOn?: string): Promise<void> {
    return this.#serial(`$share/${group}/${filter}`, async () => {
      const empty = await this.#membership(group, filter, (members) => {
        // `onlyOn`: unless the client has joined again on another replica meanwhile.
        if (onlyOn === undefined || members[clientId] === onlyOn) delete members[clientId];
      });
      if (empty) {
        for (const durable of this.#durables(group, filter)) {
          await deleteQuietly(this.#backbone, this.#layout.streams.mqtt.name, durable, this.#logger);
        }
      }
    });
  }

  /**
   * Members that were connected to a replica that died are gone for good unless their session
   * continues (a persistent session stays in its groups while away): removes them, and the
   * last one out deletes the group's consumers. Run by the sweeper.
   */
  async sweepCrashed(
    isAlive: (node: string) => Promise<boolean>,
    sessionContinues: (clientId: string) => Promise<boolean>,
  ): Promise<void> {
    const kv = await this.#kv;
    for (const key of await kv.keys('g.*')) {
      const entry = await kv.get(key);
      if (!entry) continue;
      const record = decodeGroupRecord(entry.value);
      if (record.group === undefined || record.filter === undefined) continue; // written by an older version
      for (const [clientId, node] of Object.entries(record.members)) {
        if (node === this.#node || (await isAlive(node))) continue;
        if (!(await sessionContinues(clientId))) {
          await this.forget(record.group, record.filter, clientId, node);
        }
      }
    }
  }

  async close(): Promise<void> {
    const groups = [...this.#groups.values()];
    this.#groups.clear();
    await Promise.all(groups.map((g) => this.#stop(g)));
  }

  #durables(group: string, filter: string): string[] {
    const space = { prefix: this.#layout.prefix, tier: 'mqtt' as const };
    return filterToSubjects(space, filter, { classes: ['1'] }).map((s) =>
      sharedConsumerName(this.#stem, group, filter, s),
    );
  }

  async #open(shareFilter: string, group: string, filter: string): Promise<Group> {
    const space = { prefix: this.#layout.prefix, tier: 'mqtt' as const };
    const entry: Group = { shareFilter, members: [], next: 0, live: [], consumers: [], durables: [] };
    const queue = `${this.#layout.prefix}.share.${encodeKey(group)}.${shortHash(filter)}`;
    for (const subject of filterToSubjects(space, filter, { classes: ['0'] })) {
      entry.live.push(
        this.#backbone.subscribe(subject, (message) => this.#offer(entry, message, undefined), { queue }),
      );
    }
    for (const subject of filterToSubjects(space, filter, { classes: ['1'] })) {
      const durable = sharedConsumerName(this.#stem, group, filter, subject);
      entry.durables.push(durable);
      const handle = this.#backbone
        .consume(
          {
            stream: this.#layout.streams.mqtt.name,
            durable,
            filterSubject: subject,
            deliver: { kind: 'new' },
            ackWaitMs: this.#options.ackWaitMs,
            maxAckPending: this.#options.maxAckPending,
          },
          (message) => this.#offer(entry, message, message),
        )
        .catch((error: unknown) => {
          this.#logger.warn({ err: error, shareFilter }, 'shared subscription consumer failed');
          return undefined;
        });
      entry.consumers.push(handle);
    }
    await Promise.all(entry.consumers);
    await this.#backbone.flush();
    return entry;
  }

  async #stop(entry: Group): Promise<void> {
    for (const subscription of entry.live) subscription.unsubscribe();
    await Promise.all(entry.consumers.map(async (p) => (await p)?.stop()));
  }

  /** Gives a message to the next local member that takes it; none → back to the stream. */
  #offer(entry: Group, message: BackboneMessage, stored: DeliveredMessage | undefined): void {
    const count = entry.members.length;
    for (let i = 0; i < count; i++) {
      const member = entry.members[(entry.next + i) % count]!;
      if (member.deliverShared(entry.shareFilter, message, stored)) {
        entry.next = (entry.next + i + 1) % Math.max(1, entry.members.length);
        return;
      }
    }
    stored?.nak();
  }

  /** Updates the group's member list with compare-and-set; true when it is now empty. */
  async #membership(
    group: string,
    filter: string,
    mutate: (members: Record<string, string>) => void,
  ): Promise<boolean> {
    const kv = await this.#kv;
    const key = `g.${shortHash(`${group}\u0000${filter}`, 24)}`;
    for (let attempt = 0; attempt < 16; attempt++) {
      const entry = await kv.get(key);
      const members = entry ? decodeGroupRecord(entry.value).members : {};
      mutate(members);
      const empty = Object.keys(members).length === 0;
      const value = encoder.encode(JSON.stringify({ group, filter, members } satisfies GroupRecord));
      try {
        if (empty) {
          if (entry) await kv.delete(key, { revision: entry.revision });
        } else if (entry) {
          await kv.update(key, value, entry.revision);
        } else {
          await kv.create(key, value);
        }
        return empty;
      } catch (error) {
        if (!KvConflictError.is(error)) throw error;
      }
    }
    throw new Error(`shared subscription membership of ${group} kept changing`);
  }

  #serial(key: string, work: () => Promise<void>): Promise<void> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.#tails.set(key, next);
    void next
      .catch(() => undefined)
      .finally(() => {
        if (this.#tails.get(key) === next) this.#tails.delete(key);
      });
    return next;
  }
}

/** A group's record in the sessions bucket: which client is a member, on which replica. */
interface GroupRecord {
  readonly group?: string;
  readonly filter?: string;
  readonly members: Record<string, string>;
}

/** Reads a group record, also the older form that held only the members map. */
function decodeGroupRecord(value: Uint8Array): GroupRecord & { members: Record<string, string> } {
  const parsed = JSON.parse(decoder.decode(value)) as Record<string, unknown>;
  if (typeof parsed.members === 'object' && parsed.members !== null && typeof parsed.group === 'string') {
    return parsed as unknown as GroupRecord & { members: Record<string, string> };
  }
  return { members: parsed as Record<string, string> };
}
