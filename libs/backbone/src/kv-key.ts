import { KvKeyInvalidError } from './errors.js';

/*
 * A readable, reversible escape from any string to one valid NATS KV key token.
 * `[A-Za-z0-9_-]` stay as they are; every other UTF-8 byte becomes `=HH` (upper-case hex).
 * `.` is always escaped, so an encoded id is a single token and `sessions.*` filters work.
 * The empty string encodes as a lone `=`, which no non-empty string produces.
 * Decoding is strict (only the canonical form is accepted), so the mapping is one-to-one.
 */

const SAFE = /^[A-Za-z0-9_-]$/;
const CANONICAL_ESCAPE = /^=[0-9A-F]{2}$/;
const EMPTY = '=';
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Maps any well-formed string (a client id, any UTF-8) to a valid single-token KV key; reverse with {@link decodeKey}. */
export function encodeKey(id: string): string {
  if (id === '') return EMPTY;
  // In a `u` regex this range matches only unpaired surrogates, which have no UTF-8 form.
  if (/[\uD800-\uDFFF]/u.test(id)) throw new KvKeyInvalidError(id, 'contains an unpaired UTF-16 surrogate');
  let out = '';
  for (const char of id) {
    if (SAFE.test(char)) {
      out += char;
      continue;
    }
    for (const byte of encoder.encode(char)) out += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Reverses {@link encodeKey}; throws `KvKeyInvalidError` for a key it could not have produced. */
export function decodeKey(key: string): string {
  if (key === EMPTY) return '';
  if (key === '') throw new KvKeyInvalidError(key, 'empty (the empty id encodes as "=")');
  const bytes: number[] = [];
  for (let i = 0; i < key.length; ) {
    const char = key[i]!;
    if (char === '=') {
      const triplet = key.slice(i, i + 3);
      if (!CANONICAL_ESCAPE.test(triplet)) throw new KvKeyInvalidError(key, `bad escape at offset ${i}`);
      const byte = Number.parseInt(triplet.slice(1), 16);
      if (SAFE.test(String.fromCharCode(byte))) {
        throw new KvKeyInvalidError(key, `escape of a plain character at offset ${i}`);
      }
      bytes.push(byte);
      i += 3;
    } else if (SAFE.test(char)) {
      bytes.push(char.charCodeAt(0));
      i += 1;
    } else {
      throw new KvKeyInvalidError(
        key,
        `character ${JSON.stringify(char)} at offset ${i} is never produced by encodeKey`,
      );
    }
  }
  let id: string;
  try {
    id = decoder.decode(new Uint8Array(bytes));
  } catch (cause) {
    throw new KvKeyInvalidError(key, 'escapes do not form valid UTF-8', { cause });
  }
  // Belt and braces: only the exact form encodeKey produces maps back, so the mapping stays one-to-one.
  if (encodeKey(id) !== key) throw new KvKeyInvalidError(key, 'not in canonical form');
  return id;
}
