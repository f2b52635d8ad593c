/** Parsers for setting values: each returns the value or a string saying what was expected. */
export type Parser<T> = ((raw: unknown) => T | { readonly expected: string }) & {
  /** How documentation shows values of this parser. */
  readonly unit?: 'duration' | 'bytes';
};

function withUnit<T>(
  parser: (raw: unknown) => T | { readonly expected: string },
  unit: 'duration' | 'bytes',
): Parser<T> {
  return Object.assign(parser, { unit });
}

/** Failure result of a {@link Parser}. */
export function expected(what: string): { readonly expected: string } {
  return { expected: what };
}

export function isFailure(value: unknown): value is { readonly expected: string } {
  return typeof value === 'object' && value !== null && 'expected' in value && Object.keys(value).length === 1;
}

/** An integer in [min, max]; accepts numbers and decimal strings. */
export function integer(min: number, max: number): Parser<number> {
  return (raw) => {
    const value = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    return expected(`an integer from ${min} to ${max}`);
  };
}

/** A TCP port; 0 asks the OS for a free one. */
export const port: Parser<number> = integer(0, 65_535);

/** Any non-empty string, optionally matching `pattern` (described by `what`). */
export function text(pattern?: RegExp, what = 'a non-empty string'): Parser<string> {
  return (raw) => {
    const value = typeof raw === 'number' ? String(raw) : raw;
    if (typeof value === 'string' && value.length > 0 && (!pattern || pattern.test(value))) return value;
    return expected(what);
  };
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(values: readonly T[]): Parser<T> {
  return (raw) =>
    typeof raw === 'string' && (values as readonly string[]).includes(raw)
      ? (raw as T)
      : expected(`one of ${values.join(', ')}`);
}

/** true/false, also 1/0, yes/no, on/off from the environment. */
export const boolean: Parser<boolean> = (raw) => {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string') {
    const value = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(value)) return true;
    if (['false', '0', 'no', 'off'].includes(value)) return false;
  }
  return expected('a boolean (true or false)');
};

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in milliseconds: `500ms`, `10s`, `5m`, `24h`, `7d`, or a bare number of milliseconds. */
export function duration(minMs = 0, maxMs = Number.MAX_SAFE_INTEGER): Parser<number> {
  return withUnit((raw) => {
    let ms: number | undefined;
    if (typeof raw === 'number' && Number.isFinite(raw)) ms = raw;
    else if (typeof raw === 'string') {
      const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(raw);
      if (match) ms = Number(match[1]) * DURATION_UNITS_MS[match[2] ?? 'ms']!;
    }
    if (ms !== undefined && ms >= minMs && ms <= maxMs) return Math.round(ms);
    return expected(`a duration such as 500ms, 10s, 5m or 24h, from ${minMs} ms to ${maxMs} ms`);
  }, 'duration');
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
};

/** A size in bytes: `65536`, `64KiB`, `1MiB`, `1GiB` (also kB/MB/GB in powers of 1000). */
export function bytes(min = 0, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return withUnit((raw) => {
    let n: number | undefined;
    if (typeof raw === 'number' && Number.isFinite(raw)) n = raw;
    else if (typeof raw === 'string') {
      const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)?\s*$/.exec(raw);
      const unit = SIZE_UNITS[(match?.[2] ?? 'b').toLowerCase()];
      if (match && unit) n = Number(match[1]) * unit;
    }
    if (n !== undefined && Number.isInteger(n) && n >= min && n <= max) return n;
    return expected(`a size in bytes such as 65536, 64KiB or 1MiB, from ${min} to ${max}`);
  }, 'bytes');
}

/** A comma-separated list of NATS server URLs. */
export const natsUrls: Parser<string> = (raw) => {
  if (typeof raw !== 'string' || raw.trim() === '') return expected('one or more nats:// URLs separated by commas');
  for (const part of raw.split(',')) {
    const candidate = part.trim();
    if (!/^(nats|tls|wss?):\/\/[^\s/]+(:\d+)?\/?$/.test(candidate) && !/^[^\s/:]+:\d+$/.test(candidate)) {
      return expected('one or more nats:// URLs separated by commas, such as nats://127.0.0.1:4222');
    }
  }
  return raw.trim();
};
