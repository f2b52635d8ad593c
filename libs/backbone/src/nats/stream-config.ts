/**
 * StreamSpec → JetStream stream configuration, and the comparison `ensureStream` uses to
 * decide whether an existing stream needs an in-place update. Only fields this package sets
 * are compared, so settings an operator added by hand (placement, description…) survive.
 * Every field used here exists on nats-server 2.9 (no subject transforms, no per-message
 * TTL, no compression, no metadata).
 */
import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { StreamSpec } from '../contract.js';
import { DEFAULT_DUPLICATE_WINDOW_MS } from '../defaults.js';

/** The subset of the JetStream config that a StreamSpec determines. */
export type ManagedStreamConfig = Pick<
  StreamConfig,
  | 'name'
  | 'subjects'
  | 'retention'
  | 'storage'
  | 'discard'
  | 'max_age'
  | 'max_bytes'
  | 'max_msgs'
  | 'max_msgs_per_subject'
  | 'duplicate_window'
  | 'num_replicas'
>;

/** The JetStream configuration for `spec`; `replicas` applies when the spec names none. */
export function streamConfig(spec: StreamSpec, replicas: number): ManagedStreamConfig {
  const maxAgeMs = spec.maxAgeMs ?? 0;
  // nats-server rejects a duplicate window longer than the max age.
  let duplicateWindowMs = spec.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  if (maxAgeMs > 0 && duplicateWindowMs > maxAgeMs) duplicateWindowMs = maxAgeMs;
  return {
    name: spec.name,
    subjects: [...spec.subjects],
    retention: RetentionPolicy.Limits,
    storage: spec.storage === 'memory' ? StorageType.Memory : StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(maxAgeMs),
    max_bytes: spec.maxBytes ?? -1,
    max_msgs: spec.maxMsgs ?? -1,
    max_msgs_per_subject: spec.lastValuePerSubject ? 1 : -1,
    duplicate_window: nanos(duplicateWindowMs),
    num_replicas: spec.replicas ?? replicas,
  };
}

/** A limit where zero or a negative number means "unlimited", as the server treats it. */
function limit(n: number | undefined): number {
  return n === undefined || n <= 0 ? -1 : n;
}

/** Names of the managed fields whose values differ between the server's config and `want`. */
export function configDiff(have: Partial<StreamConfig>, want: ManagedStreamConfig): (keyof ManagedStreamConfig)[] {
  const diff: (keyof ManagedStreamConfig)[] = [];
  const sortedHave = [...(have.subjects ?? [])].sort();
  const sortedWant = [...want.subjects].sort();
  if (sortedHave.length !== sortedWant.length || sortedHave.some((s, i) => s !== sortedWant[i])) diff.push('subjects');
  if (have.retention !== want.retention) diff.push('retention');
  if (have.storage !== want.storage) diff.push('storage');
  if (have.discard !== want.discard) diff.push('discard');
  if ((have.max_age ?? 0) !== want.max_age) diff.push('max_age');
  if (limit(have.max_bytes) !== limit(want.max_bytes)) diff.push('max_bytes');
  if (limit(have.max_msgs) !== limit(want.max_msgs)) diff.push('max_msgs');
  if (limit(have.max_msgs_per_subject) !== limit(want.max_msgs_per_subject)) diff.push('max_msgs_per_subject');
  if ((have.duplicate_window ?? 0) !== want.duplicate_window) diff.push('duplicate_window');
  if ((have.num_replicas ?? 1) !== want.num_replicas) diff.push('num_replicas');
  return diff;
}

/** Fields nats-server cannot change on an existing stream. */
export const IMMUTABLE_FIELDS: ReadonlySet<keyof ManagedStreamConfig> = new Set(['storage', 'retention']);
