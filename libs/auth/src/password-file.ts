/**
 * Password files of salted hashes, one `username:hash` per line (blank lines and lines starting
 * with `#` are ignored). Three hash formats are read:
 *
 * - `$scrypt$N=16384,r=8,p=1$<salt b64>$<hash b64>`: ours, written by {@link hashPassword} and
 *   `bin/protomesh-passwd.mjs` (scrypt, RFC 7914).
 * - `$7$<iterations>$<salt b64>$<hash b64>`: mosquitto_passwd's default since Mosquitto 2.0,
 *   PBKDF2-HMAC-SHA512 over the password with the decoded salt.
 * - `$6$<salt b64>$<hash b64>`: mosquitto_passwd `-H sha512` (Mosquitto 1.6 and earlier),
 *   one SHA-512 over the password bytes followed by the decoded salt.
 *
 * Base64 is the standard alphabet with padding, as mosquitto_passwd writes it. Mosquitto
 * 2.1's `$argon2id$` lines are refused with a clear message (Node 20 has no Argon2).
 */
import { createHash, pbkdf2, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AuthFileUnreadableError, PasswordFileInvalidError, UsernameInvalidError } from './errors.js';

/** scrypt cost N (CPU/memory, a power of two): 16 MiB of memory with r = 8. */
export const SCRYPT_N = 16_384;
/** scrypt block size r. */
export const SCRYPT_R = 8;
/** scrypt parallelism p. */
export const SCRYPT_P = 1;
/** Salt length of new hashes, in bytes. */
const SALT_BYTES = 16;
/** Derived key length of new scrypt hashes, in bytes. */
const SCRYPT_KEY_BYTES = 64;
/** Largest scrypt N accepted from a file (2^20: 1 GiB with r = 8 would stall the edge). */
const SCRYPT_N_MAX = 1 << 20;
/** Largest PBKDF2 iteration count accepted from a file: bounds the CPU time of one CONNECT. */
const PBKDF2_ITERATIONS_MAX = 10_000_000;
/** SHA-512 output, in bytes: the length of `$6$` and `$7$` hashes. */
const SHA512_BYTES = 64;
/** Standard base64 with padding, non-empty. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A parsed hash of one password-file entry. */
type StoredHash =
  | { kind: 'scrypt'; n: number; r: number; p: number; salt: Buffer; hash: Buffer }
  | { kind: 'pbkdf2-sha512'; iterations: number; salt: Buffer; hash: Buffer }
  | { kind: 'sha512'; salt: Buffer; hash: Buffer };

function decodeBase64(text: string): Buffer | undefined {
  if (text.length === 0 || !BASE64.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}

function scryptAsync(password: string, salt: Buffer, keyLength: number, n: number, r: number, p: number) {
  return new Promise<Buffer>((resolve, reject) => {
    // maxmem: scrypt needs about 128·N·r bytes; leave headroom over Node's 32 MiB default.
    scrypt(password, salt, keyLength, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

function pbkdf2Async(password: string, salt: Buffer, iterations: number, keyLength: number) {
  return new Promise<Buffer>((resolve, reject) => {
    pbkdf2(password, salt, iterations, keyLength, 'sha512', (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** Parses a stored hash; returns the reason it is unusable as a string. */
function parseHash(text: string): StoredHash | string {
  const parts = text.split('$');
  // A leading '$' makes parts[0] empty: ['', kind, ...].
  if (parts[0] !== '' || parts.length < 3) {
    return 'the password is not a supported hash ($scrypt$, $7$ or $6$); hash it with protomesh-passwd';
  }
  const kind = parts[1];
  if (kind === 'scrypt') {
    if (parts.length !== 5) return 'a $scrypt$ hash has the form $scrypt$N=…,r=…,p=…$<salt>$<hash>';
    const params = new Map(parts[2]!.split(',').map((kv) => kv.split('=') as [string, string]));
    const n = Number(params.get('N'));
    const r = Number(params.get('r'));
    const p = Number(params.get('p'));
    if (!Number.isInteger(n) || n < 2 || n > SCRYPT_N_MAX || (n & (n - 1)) !== 0) {
      return `scrypt N must be a power of two between 2 and ${SCRYPT_N_MAX}`;
    }
    if (!Number.isInteger(r) || r < 1 || r > 64 || !Number.isInteger(p) || p < 1 || p > 16) {
      return 'scrypt r must be 1–64 and p 1–16';
    }
    const salt = decodeBase64(parts[3]!);
    const hash = decodeBase64(parts[4]!);
    if (salt === undefined || hash === undefined || hash.length < 16) return 'scrypt salt or hash is not valid base64';
    return { kind: 'scrypt', n, r, p, salt, hash };
  }
  if (kind === '7') {
    if (parts.length !== 5) return 'a $7$ hash has the form $7$<iterations>$<salt>$<hash>';
    const iterations = Number(parts[2]);
    if (!/^[0-9]+$/.test(parts[2]!) || iterations < 1 || iterations > PBKDF2_ITERATIONS_MAX) {
      return `$7$ iterations must be between 1 and ${PBKDF2_ITERATIONS_MAX}`;
    }
    const salt = decodeBase64(parts[3]!);
    const hash = decodeBase64(parts[4]!);
    if (salt === undefined || hash?.length !== SHA512_BYTES) return '$7$ salt or hash is not valid base64 of SHA-512';
    return { kind: 'pbkdf2-sha512', iterations, salt, hash };
  }
  if (kind === '6') {
    if (parts.length !== 4) return 'a $6$ hash has the form $6$<salt>$<hash>';
    const salt = decodeBase64(parts[2]!);
    const hash = decodeBase64(parts[3]!);
    if (salt === undefined || hash?.length !== SHA512_BYTES) return '$6$ salt or hash is not valid base64 of SHA-512';
    return { kind: 'sha512', salt, hash };
  }
  if (kind === 'argon2id') return '$argon2id$ hashes (Mosquitto 2.1) are not supported; use -H sha512-pbkdf2';
  return `unsupported hash type $${kind.slice(0, 16)}$ (expected $scrypt$, $7$ or $6$)`;
}

/** Derives the hash of `password` with the parameters of `stored`. */
async function derive(stored: StoredHash, password: string): Promise<Buffer> {
  switch (stored.kind) {
    case 'scrypt':
      return scryptAsync(password, stored.salt, stored.hash.length, stored.n, stored.r, stored.p);
    case 'pbkdf2-sha512':
      return pbkdf2Async(password, stored.salt, stored.iterations, stored.hash.length);
    case 'sha512':
      return createHash('sha512').update(password, 'utf8').update(stored.salt).digest();
  }
}

/** True when `password` hashes to `stored`; the comparison takes constant time for equal lengths. */
async function matches(stored: StoredHash, password: string): Promise<boolean> {
  const derived = await derive(stored, password);
  return derived.length === stored.hash.length && timingSafeEqual(derived, stored.hash);
}

/** Throws {@link UsernameInvalidError} unless `username` can be a password-file key. */
export function validateUsername(username: string): void {
  if (username.length === 0) throw new UsernameInvalidError(username, 'must not be empty');
  if (username.includes(':')) throw new UsernameInvalidError(username, 'must not contain ":"');
  if (/[\r\n\0]/.test(username)) throw new UsernameInvalidError(username, 'must not contain a line break or U+0000');
}

/**
 * Hashes a password in our scrypt format,
 * `$scrypt$N=16384,r=8,p=1$<16-byte salt b64>$<64-byte hash b64>`, with a fresh random salt.
 * Async: scrypt runs on libuv's thread pool (about 50 ms and 16 MiB).
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(password, salt, SCRYPT_KEY_BYTES, SCRYPT_N, SCRYPT_R, SCRYPT_P);
  return `$scrypt$N=${SCRYPT_N},r=${SCRYPT_R},p=${SCRYPT_P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** A dummy entry hashed for unknown users so a miss costs as much as a wrong password. */
let dummy: Promise<StoredHash> | undefined;
function dummyHash(): Promise<StoredHash> {
  dummy ??= hashPassword(randomBytes(16).toString('hex')).then((h) => parseHash(h) as StoredHash);
  return dummy;
}

/** A loaded password file: usernames mapped to salted hashes. */
export interface PasswordFile {
  /** Number of users. */
  readonly size: number;
  /** True when the file has an entry for `username`. */
  has(username: string): boolean;
  /**
   * True when `password` is the password of `username`. Compares in constant time, and an
   * unknown user costs one scrypt like a wrong password, so timing does not reveal usernames.
   */
  verify(username: string, password: string): Promise<boolean>;
}

/** The {@link PasswordFile} implementation. */
class PasswordTable implements PasswordFile {
  readonly #entries: ReadonlyMap<string, StoredHash>;

  constructor(entries: ReadonlyMap<string, StoredHash>) {
    this.#entries = entries;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(username: string): boolean {
    return this.#entries.has(username);
  }

  async verify(username: string, password: string): Promise<boolean> {
    const stored = this.#entries.get(username);
    if (stored === undefined) {
      await matches(await dummyHash(), password);
      return false;
    }
    return matches(stored, password);
  }
}

/**
 * Parses password-file text; `source` names the file in errors. Throws
 * {@link PasswordFileInvalidError} for a malformed line, an unsupported hash (messages never
 * quote the hash or password), or a duplicate username.
 */
export function parsePasswordFile(text: string, source = 'password file'): PasswordFile {
  const entries = new Map<string, StoredHash>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new PasswordFileInvalidError(source, i + 1, 'expected "username:hash"');
    const username = line.slice(0, colon);
    const parsed = parseHash(line.slice(colon + 1));
    if (typeof parsed === 'string') {
      throw new PasswordFileInvalidError(source, i + 1, `user ${JSON.stringify(username)}: ${parsed}`);
    }
    if (entries.has(username)) {
      throw new PasswordFileInvalidError(source, i + 1, `user ${JSON.stringify(username)} appears twice`);
    }
    entries.set(username, parsed);
  }
  return new PasswordTable(entries);
}

/** Reads and parses a password file; throws {@link AuthFileUnreadableError} or {@link PasswordFileInvalidError}. */
export async function loadPasswordFile(path: string): Promise<PasswordFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new AuthFileUnreadableError(path, (error as NodeJS.ErrnoException).code ?? 'read failed', { cause: error });
  }
  return parsePasswordFile(text, path);
}

/**
 * Returns password-file text with `username`'s line set to `hash` (replaced in place, or
 * appended), keeping every other line as it was. `hash` undefined removes the user. Used by
 * `protomesh-passwd`; throws {@link UsernameInvalidError}.
 */
export function setPasswordEntry(text: string, username: string, hash: string | undefined): string {
  validateUsername(username);
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const prefix = `${username}:`;
  const index = lines.findIndex((line) => line.startsWith(prefix));
  if (hash === undefined) {
    if (index !== -1) lines.splice(index, 1);
  } else if (index === -1) lines.push(`${prefix}${hash}`);
  else lines[index] = `${prefix}${hash}`;
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
