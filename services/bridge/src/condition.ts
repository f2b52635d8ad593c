/**
 * The optional condition of a route on one field of a JSON payload, e.g.
 * `when: { field: reading.temp, op: gt, value: 30 }`. A payload that is not JSON, or lacks
 * the field, does not meet a condition (except `absent`): the message is not carried and is
 * counted as `filtered`, never dead-lettered.
 */

/** Comparison operators of a condition. */
export const CONDITION_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'exists', 'absent', 'in', 'matches'] as const;

/** One of {@link CONDITION_OPS}. */
export type ConditionOp = (typeof CONDITION_OPS)[number];

/** A condition as written in a route. */
export interface RouteCondition {
  /** Dot-separated path into the JSON payload; array indexes are numbers (`values.0`). */
  readonly field: string;
  readonly op: ConditionOp;
  /** Compared value (`in`: an array; `matches`: a regular expression source). */
  readonly value?: unknown;
}

/** A condition ready to test payloads. */
export type CompiledCondition = (payload: Uint8Array) => boolean;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const ABSENT = Symbol('absent');

function lookup(root: unknown, path: readonly string[]): unknown {
  let value: unknown = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return ABSENT;
    if (!Object.hasOwn(value, key)) return ABSENT;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    return JSON.stringify(a) === JSON.stringify(b);
  }
  return false;
}

function order(a: unknown, b: unknown): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

/** Compiles a condition (the schema already checked its shape; `matches` is compiled here). */
export function compileCondition(condition: RouteCondition): CompiledCondition {
  const path = condition.field.split('.');
  const { op, value } = condition;
  const regex = op === 'matches' ? new RegExp(String(value)) : undefined;
  const test = (field: unknown): boolean => {
    switch (op) {
      case 'exists':
        return field !== ABSENT;
      case 'absent':
        return field === ABSENT;
      case 'eq':
        return field !== ABSENT && equal(field, value);
      case 'ne':
        return field !== ABSENT && !equal(field, value);
      case 'in':
        return field !== ABSENT && Array.isArray(value) && value.some((v) => equal(field, v));
      case 'matches':
        return typeof field === 'string' && regex!.test(field);
      default: {
        const cmp = field === ABSENT ? undefined : order(field, value);
        if (cmp === undefined) return false;
        return op === 'gt' ? cmp > 0 : op === 'gte' ? cmp >= 0 : op === 'lt' ? cmp < 0 : cmp <= 0;
      }
    }
  };
  return (payload) => {
    let root: unknown;
    try {
      root = JSON.parse(utf8.decode(payload));
    } catch {
      return op === 'absent';
    }
    return test(lookup(root, path));
  };
}
