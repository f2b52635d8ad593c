import { type MsgHdrs, headers as natsHeaders } from '@nats-io/transport-node';
import type { HeaderEntries } from '../contract.js';

/** Contract headers to NATS headers (undefined when there are none); validate first (`assertHeaders`). */
export function toNatsHeaders(entries: HeaderEntries | undefined): MsgHdrs | undefined {
  if (entries === undefined || entries.length === 0) return undefined;
  const h = natsHeaders();
  for (const [name, value] of entries) h.append(name, value);
  return h;
}

/** NATS headers to contract headers: undefined when the message carried none (or only a status line). */
export function fromNatsHeaders(h: MsgHdrs | undefined): HeaderEntries | undefined {
  if (h === undefined) return undefined;
  const out: (readonly [string, string])[] = [];
  for (const [name, values] of h) for (const value of values) out.push([name, value] as const);
  return out.length === 0 ? undefined : Object.freeze(out);
}
