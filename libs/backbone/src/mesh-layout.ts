/**
 * The JetStream resources of one mesh, derived from its subject prefix, and their
 * idempotent provisioning. Every service computes the same layout from the same prefix, so
 * there is no shared registry: the names are the contract.
 */
import { streamSubjects, type Tier, validatePrefix } from '@protomesh/topic-map';
import type { Backbone, KvSpec, StreamSpec } from './contract.js';

/** Tier streams keep messages this long unless configured, in ms (24 h). */
export const DEFAULT_STREAM_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/** Tier streams deduplicate `msgId`s over this window, in ms (2 min). */
export const STREAM_DUPLICATE_WINDOW_MS = 2 * 60 * 1000;
/** A bridge consumer lease expires this long after its last renewal, in ms. */
export const LEASE_TTL_MS = 5_000;

export interface MeshLayoutOptions {
  /** Server-side replicas of every stream and bucket (1 in tests, 3 in production). */
  readonly replicas?: number;
  /** Age limit of the tier streams, in ms (default {@link DEFAULT_STREAM_MAX_AGE_MS}). */
  readonly streamMaxAgeMs?: number;
  /** Size limit of each tier stream, in bytes (default unlimited). */
  readonly streamMaxBytes?: number;
  /** Most retained messages kept (default unlimited); the oldest topics go first. */
  readonly retainedMaxMsgs?: number;
}

/** The streams and buckets of one mesh. */
export interface MeshLayout {
  /** The subject prefix (`mesh` by default). */
  readonly prefix: string;
  /**
   * Prefix of retained-message subjects, `<prefix>.retained`: a retained message for `topic`
   * lives on `topicToSubject({ prefix: retainedPrefix, tier }, topic, '1')`.
   */
  readonly retainedPrefix: string;
  readonly streams: {
    /** Class-1 messages of the MQTT tier (`<PREFIX>_MQTT`). */
    readonly mqtt: StreamSpec;
    /** Class-1 messages of the WebSocket tier (`<PREFIX>_WS`). */
    readonly ws: StreamSpec;
    /** Retained messages, last value per subject (`<PREFIX>_RETAINED`). */
    readonly retained: StreamSpec;
  };
  readonly buckets: {
    /** MQTT session state (`<PREFIX>_SESSIONS`). */
    readonly sessions: KvSpec;
    /** Short-lived ownership leases, e.g. of bridge consumers (`<PREFIX>_LEASES`, TTL {@link LEASE_TTL_MS}). */
    readonly leases: KvSpec;
  };
}

/**
 * The upper-case name stem of a prefix: `mesh` → `MESH`, `acme.prod-eu` → `ACME_PROD_EU`.
 * Prefixes that differ only in `.`, `-` and `_` (or case) share a stem: give meshes that share
 * a NATS account prefixes that differ in letters or digits.
 */
export function layoutStem(prefix: string): string {
  validatePrefix(prefix);
  return prefix.toUpperCase().replace(/[.-]/g, '_');
}

/** The layout of the mesh using subject prefix `prefix` (throws `PrefixInvalidError` for a bad one). */
export function meshLayout(prefix: string, options: MeshLayoutOptions = {}): MeshLayout {
  const stem = layoutStem(prefix);
  const { replicas } = options;
  const tierStream = (tier: Tier): StreamSpec => ({
    name: `${stem}_${tier.toUpperCase()}`,
    subjects: streamSubjects({ prefix, tier }),
    maxAgeMs: options.streamMaxAgeMs ?? DEFAULT_STREAM_MAX_AGE_MS,
    duplicateWindowMs: STREAM_DUPLICATE_WINDOW_MS,
    ...(options.streamMaxBytes === undefined ? {} : { maxBytes: options.streamMaxBytes }),
    ...(replicas === undefined ? {} : { replicas }),
  });
  const retainedPrefix = `${prefix}.retained`;
  return deepFreeze({
    prefix,
    retainedPrefix,
    streams: {
      mqtt: tierStream('mqtt'),
      ws: tierStream('ws'),
      retained: {
        name: `${stem}_RETAINED`,
        subjects: [`${retainedPrefix}.>`],
        lastValuePerSubject: true,
        ...(options.retainedMaxMsgs === undefined ? {} : { maxMsgs: options.retainedMaxMsgs }),
        ...(replicas === undefined ? {} : { replicas }),
      },
    },
    buckets: {
      sessions: { bucket: `${stem}_SESSIONS`, ...(replicas === undefined ? {} : { replicas }) },
      leases: { bucket: `${stem}_LEASES`, ttlMs: LEASE_TTL_MS, ...(replicas === undefined ? {} : { replicas }) },
    },
  });
}

/**
 * Creates (or updates in place) every stream and bucket of `layout`. Idempotent and safe
 * when several replicas of several services run it at the same time.
 */
export async function provisionMesh(backbone: Backbone, layout: MeshLayout): Promise<void> {
  await Promise.all([
    backbone.ensureStream(layout.streams.mqtt),
    backbone.ensureStream(layout.streams.ws),
    backbone.ensureStream(layout.streams.retained),
    backbone.kv(layout.buckets.sessions),
    backbone.kv(layout.buckets.leases),
  ]);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
