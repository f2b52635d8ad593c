/**
 * The session record kept in the sessions KV bucket (one key per client id): everything a
 * replica needs to resume an MQTT session that another replica served. Messages themselves
 * stay in the tier stream; the record names the durable consumers that hold the session's
 * place in it. Written with compare-and-set only, so the revision is also the ownership
 * token: a replica whose write conflicts has lost the session.
 */
import { createHash, randomBytes } from 'node:crypto';
import { encodeKey } from '@protomesh/backbone';

/** Session Expiry Interval meaning "never expires" (MQTT 5 §3.1.2.11.2), in seconds. */
export const SESSION_NEVER_EXPIRES = 0xffff_ffff;

/** Who serves the session now. */
export interface SessionOwner {
  /** Replica (broker instance) id. */
  readonly node: string;
  /** Connection serial on that replica. */
  readonly conn: number;
}

/** One subscription of a session, as the client asked for it. */
export interface StoredSubscription {
  /** Granted QoS. */
  readonly qos: 0 | 1 | 2;
  /** MQTT 5 No Local. */
  readonly nl?: boolean;
  /** MQTT 5 Retain As Published. */
  readonly rap?: boolean;
  /** MQTT 5 Subscription Identifier. */
  readonly sid?: number;
  /**
   * Class-1 subjects served by this session's durable consumers, with the first stream
   * sequence each consumer delivers (used to pick one consumer for overlapping filters).
   */
  readonly from?: Readonly<Record<string, number>>;
}

/** An outbound QoS 2 delivery: its stream sequence and where it is in the exchange. */
export interface StoredOutbound {
  readonly seq: number;
  /** `p` = PUBLISH sent, PUBREC awaited; `r` = PUBREL sent, PUBCOMP awaited. */
  readonly phase: 'p' | 'r';
}

/** The stored session. */
export interface SessionRecord {
  readonly v: 1;
  /** Generation: a new value for every new session, part of its consumer names. */
  readonly gen: string;
  readonly owner: SessionOwner | null;
  /** Protocol level of the last connection. */
  readonly proto: 3 | 4 | 5;
  /** Session Expiry Interval in seconds ({@link SESSION_NEVER_EXPIRES} = never). 0 = ends with the connection. */
  readonly expiry: number;
  /** When the last connection ended, epoch ms (null while connected). */
  readonly endedAt: number | null;
  /** Topic filter (including `$share/…`) → subscription. */
  readonly subs: Readonly<Record<string, StoredSubscription>>;
  /** Inbound QoS 2 packet identifiers awaiting PUBREL → the nonce of their deduplication id. */
  readonly in2: Readonly<Record<string, string>>;
  /** Outbound QoS 2 packet identifiers awaiting PUBREC or PUBCOMP. */
  readonly out2: Readonly<Record<string, StoredOutbound>>;
}

/** A record under construction (handlers mutate a copy inside `SessionHandle.update`). */
export type MutableSessionRecord = {
  -readonly [K in keyof SessionRecord]: SessionRecord[K] extends Readonly<Record<string, infer V>>
    ? Record<string, V>
    : SessionRecord[K];
};

/** A new, empty session record. */
export function freshRecord(owner: SessionOwner, proto: 3 | 4 | 5, expiry: number): SessionRecord {
  return {
    v: 1,
    gen: randomBytes(6).toString('hex'),
    owner,
    proto,
    expiry,
    endedAt: null,
    subs: {},
    in2: {},
    out2: {},
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeRecord(record: SessionRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** Decodes a stored record; undefined for anything this version does not understand. */
export function decodeRecord(bytes: Uint8Array): SessionRecord | undefined {
  try {
    const value = JSON.parse(decoder.decode(bytes)) as SessionRecord;
    return value && value.v === 1 && typeof value.gen === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** True when a disconnected session's expiry has passed at `now` (epoch ms). */
export function isExpired(record: SessionRecord, now: number): boolean {
  if (record.owner !== null || record.endedAt === null) return false;
  if (record.expiry === SESSION_NEVER_EXPIRES) return false;
  return record.endedAt + record.expiry * 1000 <= now;
}

/** KV key of a client's session record. */
export function sessionKey(clientId: string): string {
  return `s.${encodeKey(clientId)}`;
}

/** KV key of a client's pending (delayed) Will Message. */
export function willKey(clientId: string): string {
  return `w.${encodeKey(clientId)}`;
}

/** KV key of the Will of a live connection of `clientId` on replica `node` (see will.ts). */
export function heldWillKey(node: string, clientId: string): string {
  return `h.${encodeKey(node)}.${encodeKey(clientId)}`;
}

/** Short stable hash for resource names: `length` hex digits of SHA-256. */
export function shortHash(value: string, length = 12): string {
  return createHash('sha256').update(value).digest('hex').slice(0, length);
}

/**
 * Durable consumer name of one class-1 subject of a session generation. NATS names may not
 * hold `.`, `*`, `>` or whitespace, so the subject is hashed.
 */
export function sessionConsumerName(stem: string, gen: string, subject: string): string {
  return `${stem}_S_${gen}_${shortHash(subject)}`;
}

/** Durable consumer name shared by every member of shared subscription `group`/`filter` for one subject. */
export function sharedConsumerName(stem: string, group: string, filter: string, subject: string): string {
  return `${stem}_G_${shortHash(`${group}\u0000${filter}`, 16)}_${shortHash(subject)}`;
}
