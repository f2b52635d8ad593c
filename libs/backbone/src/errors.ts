import { defineError } from '@protomesh/errors';

/**
 * The error catalogue of `@protomesh/backbone`. Both implementations throw these, never a
 * raw NATS error, so callers key on `code` whichever backbone runs. Codes are stable and
 * never reused.
 */

/** An operation was attempted after `close()`. */
export const BackboneClosedError = defineError(
  'PM_BACKBONE_CLOSED',
  'BackboneClosedError',
  'The backbone was closed; no further publish, append, consume or KV operation is accepted.',
  (operation: string) => `backbone is closed (${operation})`,
);

/** The first connection to NATS could not be established. */
export const BackboneConnectError = defineError(
  'PM_BACKBONE_CONNECT',
  'BackboneConnectError',
  'The first connection to the NATS servers failed (unreachable, refused or bad credentials).',
  (servers: string) => `cannot connect to NATS at ${servers}`,
);

/** A backbone operation failed for a reason with no code of its own; `cause` holds the original error. */
export const BackboneRequestError = defineError(
  'PM_BACKBONE_REQUEST',
  'BackboneRequestError',
  'A backbone request failed for a reason that has no more specific code; the cause carries the server error.',
  (operation: string, reason: string) => `${operation} failed: ${reason}`,
);

/** A subject or subject pattern breaks the NATS subject rules. */
export const SubjectInvalidError = defineError(
  'PM_SUBJECT_INVALID',
  'SubjectInvalidError',
  'A subject is empty, has an empty token, contains whitespace, or uses wildcards where only a literal subject is allowed.',
  (subject: string, reason: string) => `invalid subject ${JSON.stringify(subject)}: ${reason}`,
);

/** A stream, consumer, queue group or bucket name breaks the naming rules. */
export const NameInvalidError = defineError(
  'PM_NAME_INVALID',
  'NameInvalidError',
  'A stream, consumer, queue group or bucket name is empty or contains characters NATS does not allow.',
  (kind: string, name: string, rule: string) => `invalid ${kind} name ${JSON.stringify(name)}: ${rule}`,
);

/** A header name or value cannot travel as a NATS header. */
export const HeaderInvalidError = defineError(
  'PM_HEADER_INVALID',
  'HeaderInvalidError',
  'A header name is empty or contains a colon, whitespace or control character, or a value contains CR or LF.',
  (name: string, reason: string) => `invalid header ${JSON.stringify(name)}: ${reason}`,
);

/** `append` to a subject that no stream captures. */
export const NoStreamError = defineError(
  'PM_NO_STREAM',
  'NoStreamError',
  'An append went to a subject that no stream captures, so nothing was stored.',
  (subject: string) => `no stream captures subject ${JSON.stringify(subject)}`,
);

/** `append` with `expectStream` landed in another stream. */
export const StreamMismatchError = defineError(
  'PM_STREAM_MISMATCH',
  'StreamMismatchError',
  'An append with expectStream went to a subject captured by a different stream; nothing was stored.',
  (subject: string, expected: string) => `subject ${JSON.stringify(subject)} is not captured by stream ${expected}`,
);

/** The named stream does not exist. */
export const StreamNotFoundError = defineError(
  'PM_STREAM_NOT_FOUND',
  'StreamNotFoundError',
  'An operation named a stream that does not exist; provision it with ensureStream first.',
  (stream: string) => `stream ${stream} not found`,
);

/** A stream cannot be created or updated as asked. */
export const StreamConflictError = defineError(
  'PM_STREAM_CONFLICT',
  'StreamConflictError',
  'A stream definition conflicts with the server: its subjects overlap another stream, or it changes a setting that cannot be changed in place (such as storage).',
  (stream: string, reason: string) => `stream ${stream}: ${reason}`,
);

/** A stream, consumer or bucket definition, or an option, has a value out of range. */
export const SpecInvalidError = defineError(
  'PM_SPEC_INVALID',
  'SpecInvalidError',
  'A stream, consumer or bucket definition or an operation option has a missing or out-of-range value (negative duration, zero limit, empty subjects).',
  (what: string, reason: string) => `invalid ${what}: ${reason}`,
);

/** A durable consumer exists with a definition that cannot be reconciled (another filter subject). */
export const ConsumerConflictError = defineError(
  'PM_CONSUMER_CONFLICT',
  'ConsumerConflictError',
  'A durable consumer of that name already exists on the stream with a different filter subject; delete it or pick another name.',
  (consumer: string, reason: string) => `consumer ${consumer}: ${reason}`,
);

/** `append` got no acknowledgement in time; the message may or may not be stored. */
export const AppendTimeoutError = defineError(
  'PM_APPEND_TIMEOUT',
  'AppendTimeoutError',
  'An append got no acknowledgement within its timeout; the message may or may not be stored (retry with the same msgId).',
  (subject: string, timeoutMs: number) =>
    `append to ${JSON.stringify(subject)} not acknowledged within ${timeoutMs} ms`,
);

/** A KV compare-and-set failed: the key exists (create) or moved on from the given revision (update, delete). */
export const KvConflictError = defineError(
  'PM_KV_CONFLICT',
  'KvConflictError',
  'A key/value create found the key already present, or an update or delete found the key at a revision other than the one given.',
  (bucket: string, key: string) => `key ${JSON.stringify(key)} in bucket ${bucket} changed concurrently`,
);

/** A KV key (or key filter) breaks the NATS KV key rules. */
export const KvKeyInvalidError = defineError(
  'PM_KV_KEY_INVALID',
  'KvKeyInvalidError',
  'A key/value key is empty, starts or ends with a dot, or uses characters outside [-/_=.a-zA-Z0-9]; encode arbitrary ids with encodeKey.',
  (key: string, reason: string) => `invalid key ${JSON.stringify(key)}: ${reason}`,
);

/** Every error of this package, for documentation checks. */
export const BACKBONE_ERRORS = [
  BackboneClosedError,
  BackboneConnectError,
  BackboneRequestError,
  SubjectInvalidError,
  NameInvalidError,
  HeaderInvalidError,
  NoStreamError,
  StreamMismatchError,
  StreamNotFoundError,
  StreamConflictError,
  SpecInvalidError,
  ConsumerConflictError,
  AppendTimeoutError,
  KvConflictError,
  KvKeyInvalidError,
] as const;
