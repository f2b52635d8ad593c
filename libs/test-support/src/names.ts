import { randomBytes } from 'node:crypto';

let counter = 0;

/**
 * A name unique to this process and call, made of `[a-z0-9]` only, so it is valid as a
 * NATS subject token, a stream name and a KV bucket name. Use it as the mesh prefix of a
 * test so its streams and subjects never meet another test's.
 */
export function uniqueName(prefix = 't'): string {
  counter += 1;
  return `${prefix}${randomBytes(4).toString('hex')}${counter}`;
}
