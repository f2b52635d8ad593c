import { type Parser, text } from './parse.js';

/** One documented setting: where it lives in the YAML file, its environment variable, parser and default. */
export interface Setting<T = unknown> {
  /** Dotted path in the configuration object and the YAML file, e.g. `mqtt.port`. */
  readonly path: string;
  readonly env: string;
  readonly parse: Parser<T>;
  /** Undefined = optional with no value. */
  readonly default: T | undefined;
  readonly description: string;
}

/** Declares a setting (see {@link Setting}). */
export function setting<T>(
  path: string,
  env: string,
  parse: Parser<T>,
  def: T | undefined,
  description: string,
): Setting<T> {
  return { path, env, parse, default: def, description };
}

/** A listen address. */
export const host = text(/^[^\s]+$/, 'a host name or IP address');
