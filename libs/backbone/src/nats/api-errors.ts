/**
 * Recognising NATS and JetStream failures, so the NATS backbone can turn them into this
 * package's catalogued errors. Codes are JetStream API `err_code`s (nats-server
 * `server/errors.json`), stable since the 2.2 releases unless noted.
 */
import { JetStreamApiError } from '@nats-io/jetstream';
import { errors } from '@nats-io/transport-node';
import { BackboneClosedError, BackboneRequestError } from '../errors.js';

export const ApiCode = {
  ConsumerNotFound: 10014,
  ConsumerNameInUse: 10013,
  /** 2.10+: a create found a consumer with another configuration. */
  ConsumerAlreadyExists: 10148,
  ConsumerFilterNotSubset: 10093,
  NoMessageFound: 10037,
  StreamNameInUse: 10058,
  StreamNotFound: 10059,
  StreamNotMatch: 10060,
  StreamSubjectOverlap: 10065,
  StreamWrongLastSequence: 10071,
  /** 2.11+: wrong last sequence where the server cannot tell the current one. */
  StreamWrongLastSequenceUnknown: 10164,
} as const;

/** The JetStream API error code of `err`, or undefined when it is not an API error. */
export function apiCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}

export function isClosedConnection(err: unknown): boolean {
  return err instanceof errors.ClosedConnectionError || err instanceof errors.DrainingConnectionError;
}

/** A catalogued error for a failure with no more specific mapping. */
export function requestFailed(operation: string, err: unknown): Error {
  if (isClosedConnection(err)) return new BackboneClosedError(operation, { cause: err });
  const reason = err instanceof Error ? err.message : String(err);
  return new BackboneRequestError(operation, reason, { cause: err });
}
