/**
 * The base of every Protomesh error. Each package keeps one catalogue of codes
 * (`errors.ts`) built with {@link defineError}; a code is stable and never reused,
 * so logs, metrics and client-facing frames can key on it.
 */
export class MeshError extends Error {
  /** Stable, documented code such as `PM_TOPIC_INVALID`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MeshError';
    this.code = code;
  }
}

/** A factory for one catalogued error: `new Err(details)` or `Err.is(e)`. */
export interface MeshErrorClass<A extends unknown[]> {
  new (...args: [...A, options?: { cause?: unknown }]): MeshError;
  readonly code: string;
  readonly description: string;
  is(error: unknown): error is MeshError;
}

/**
 * Defines a catalogued error type. `format` turns the constructor arguments into
 * the message; `description` documents the code (checked by each package's tests).
 */
export function defineError<A extends unknown[]>(
  code: string,
  name: string,
  description: string,
  format: (...args: A) => string,
): MeshErrorClass<A> {
  const Catalogued = class extends MeshError {
    static readonly code = code;
    static readonly description = description;

    constructor(...args: [...A, options?: { cause?: unknown }]) {
      const last = args[args.length - 1];
      const hasOptions = args.length > format.length && typeof last === 'object' && last !== null && 'cause' in last;
      const formatArgs = (hasOptions ? args.slice(0, -1) : args) as A;
      super(code, format(...formatArgs), hasOptions ? (last as { cause?: unknown }) : undefined);
      this.name = name;
    }

    static is(error: unknown): error is MeshError {
      return error instanceof MeshError && error.code === code;
    }
  };
  Object.defineProperty(Catalogued, 'name', { value: name });
  return Catalogued;
}

/** True when `error` is a {@link MeshError} carrying `code`. */
export function hasCode(error: unknown, code: string): error is MeshError {
  return error instanceof MeshError && error.code === code;
}

/** A short message for any thrown value, for logs and client-facing text. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
