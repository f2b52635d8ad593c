import type { Attributes, Counter, Histogram } from '@opentelemetry/api';

/**
 * Instruments for the per-message path. Every `add`/`record` of the OpenTelemetry SDK hashes
 * its attribute set (sorted keys, serialized) once per metric reader; at a few hundred thousand
 * messages a second that alone took a fifth of an edge's CPU. These wrappers keep the
 * instrument interface and hand the SDK one call per attribute set and event-loop turn:
 *
 * - {@link batchedCounter}: values are summed per attribute object (by identity, so pass
 *   frozen constants) and added once per turn — the totals stay exact.
 * - {@link sampledHistogram}: the first value of each attribute object in a turn is recorded,
 *   the others in that turn are not. Under light load every value is recorded; under load the
 *   histogram describes one message per batch the process handled (the message counters
 *   still count every message).
 *
 * Everything pending is handed over before the next turn, and by {@link flushHotInstruments}
 * (called before a scrape or export), so a reader never misses more than the current turn.
 */

interface Pending {
  flush(): void;
}

const pending = new Set<Pending>();
let scheduled = false;

function schedule(batch: Pending): void {
  pending.add(batch);
  if (scheduled) return;
  scheduled = true;
  setImmediate(flushHotInstruments);
}

/** Hands every pending sum and sample to the SDK now. */
export function flushHotInstruments(): void {
  scheduled = false;
  for (const batch of pending) batch.flush();
  pending.clear();
}

/** A counter whose adds are summed per attribute object and handed to `counter` once per turn. */
export function batchedCounter<A extends Attributes = Attributes>(counter: Counter<A>): Counter<A> {
  const sums = new Map<A | undefined, number>();
  const batch: Pending = {
    flush() {
      for (const [attributes, sum] of sums) counter.add(sum, attributes);
      sums.clear();
    },
  };
  return {
    add(value, attributes) {
      if (value === 0) return;
      const sum = sums.get(attributes);
      if (sum === undefined) {
        sums.set(attributes, value);
        schedule(batch);
      } else sums.set(attributes, sum + value);
    },
  };
}

/** A histogram that records the first value per attribute object in each event-loop turn. */
export function sampledHistogram<A extends Attributes = Attributes>(histogram: Histogram<A>): Histogram<A> {
  const seen = new Set<A | undefined>();
  const batch: Pending = {
    flush() {
      seen.clear();
    },
  };
  return {
    record(value, attributes) {
      if (seen.has(attributes)) return;
      seen.add(attributes);
      schedule(batch);
      histogram.record(value, attributes);
    },
  };
}
