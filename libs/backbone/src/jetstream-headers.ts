import type { AppendOptions, HeaderEntries } from './contract.js';

/** The header JetStream deduplicates on (`AppendOptions.msgId`). */
export const MSG_ID_HEADER = 'Nats-Msg-Id';
/** The header that makes JetStream refuse an append to another stream (`AppendOptions.expectStream`). */
export const EXPECTED_STREAM_HEADER = 'Nats-Expected-Stream';

/**
 * The headers an append is stored (and seen by live subscribers) with: the caller's, with
 * `msgId` and `expectStream` as their JetStream headers replacing same-named ones, as the NATS
 * client sets them. The caller's array itself when there is nothing to add.
 */
export function appendHeaders(options: AppendOptions): HeaderEntries | undefined {
  if (options.msgId === undefined && options.expectStream === undefined) return options.headers;
  const out = (options.headers ?? []).filter(([name]) => name !== MSG_ID_HEADER && name !== EXPECTED_STREAM_HEADER);
  if (options.msgId !== undefined) out.push([MSG_ID_HEADER, options.msgId]);
  if (options.expectStream !== undefined) out.push([EXPECTED_STREAM_HEADER, options.expectStream]);
  return out;
}
