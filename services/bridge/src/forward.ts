/**
 * What the bridge does to one message, independent of QoS: decide whether it crosses, and
 * the headers it crosses with. The payload is never touched.
 */
import type { HeaderEntries } from '@protomesh/backbone';
import { encodeMeta, HEADER, headerValue, isBridged } from '@protomesh/envelope';

/** Why a message does not cross (or `bridge` when it does). */
export type Verdict = 'bridge' | 'skipped_loop' | 'expired';

/**
 * Loop prevention first: a message that already crossed a route (it carries a route id or
 * a hop count) never crosses again, so the two identity routes cannot ping-pong a message
 * forever. Then expiry: a message past its `Mesh-Expires-At` (MQTT 5 Message Expiry
 * Interval, [MQTT-3.3.2-5]) is dropped rather than delivered late.
 */
export function verdict(headers: HeaderEntries | undefined, nowMs: number): Verdict {
  if (isBridged(headers)) return 'skipped_loop';
  const expires = headerValue(headers, HEADER.expiresAt);
  if (expires !== undefined) {
    const at = Number(expires);
    if (Number.isFinite(at) && at < nowMs) return 'expired';
  }
  return 'bridge';
}

const ROUTE = HEADER.route.toLowerCase();
const HOPS = HEADER.hops.toLowerCase();

/**
 * The source headers, in order, with the route id appended to `Mesh-Route` and
 * `Mesh-Hops` incremented (both written once, at the end).
 */
export function bridgedHeaders(source: HeaderEntries | undefined, routeId: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let route: string | undefined;
  let hops = 0;
  for (const [name, value] of source ?? []) {
    const lower = name.toLowerCase();
    if (lower === ROUTE) {
      route = value;
    } else if (lower === HOPS) {
      const n = Number(value);
      if (Number.isInteger(n) && n >= 0) hops = n;
    } else {
      out.push([name, value]);
    }
  }
  out.push(...encodeMeta({ route: route ? `${route},${routeId}` : routeId, hops: hops + 1 }));
  return out;
}
