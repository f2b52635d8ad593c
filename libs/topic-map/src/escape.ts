/**
 * The reversible escaping of one MQTT topic level into one NATS subject token (DESIGN.md
 * "Topic model"). `%` plus two uppercase hex digits per UTF-8 byte stands for `.`, `*`, `>`,
 * `%` itself and every whitespace or control character; everything else stays literal. An
 * empty level is the token `%` alone, which escaping never produces (a `%` is `%25`).
 *
 * Decoding is strict: it accepts exactly the tokens that encoding produces, so one topic has
 * one subject and a decoded subject re-encodes to itself.
 */
import { isHighSurrogate, isLowSurrogate, isSpaceOrControl } from './chars.js';
import { SubjectTokenInvalidError, TopicNameInvalidError } from './errors.js';

const PERCENT = 0x25;
const SLASH = 0x2f;

/** The token of an empty level. */
export const EMPTY_LEVEL_TOKEN = '%';

/** `%XX` for every byte value, uppercase hex. */
const ESCAPES: readonly string[] = Array.from(
  { length: 256 },
  (_, b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
);

/** True for a character (BMP code point) that a token carries escaped. */
function mustEscape(code: number): boolean {
  // '%' (escape), '*' and '>' (wildcards), '.' (separator); then whitespace and controls.
  return code === 0x25 || code === 0x2a || code === 0x2e || code === 0x3e || isSpaceOrControl(code);
}

/** Escapes a level known to hold no `/`. Internal: the mapping splits topics itself. */
export function escapeLevel(level: string): string {
  const n = level.length;
  if (n === 0) return EMPTY_LEVEL_TOKEN;
  let i = 0;
  while (i < n && !mustEscape(level.charCodeAt(i))) i++;
  if (i === n) return level; // the common case: nothing to escape
  let out = level.slice(0, i);
  for (; i < n; i++) {
    const c = level.charCodeAt(i);
    if (!mustEscape(c)) {
      out += level[i];
    } else if (c < 0x80) {
      out += ESCAPES[c];
    } else if (c < 0x800) {
      out += ESCAPES[0xc0 | (c >> 6)]! + ESCAPES[0x80 | (c & 0x3f)]!;
    } else {
      // Every escaped character is in the BMP and not a surrogate: three bytes at most.
      out += ESCAPES[0xe0 | (c >> 12)]! + ESCAPES[0x80 | ((c >> 6) & 0x3f)]! + ESCAPES[0x80 | (c & 0x3f)]!;
    }
  }
  return out;
}

/**
 * Escapes one MQTT topic level into one NATS subject token: `%XX` per UTF-8 byte of `.`,
 * `*`, `>`, `%` and whitespace or control characters; the empty level becomes `%`. Throws
 * {@link TopicNameInvalidError} when `level` contains `/` (it would be several levels).
 */
export function encodeLevel(level: string): string {
  if (level.includes('/')) throw new TopicNameInvalidError(level, "a single level cannot contain '/'");
  return escapeLevel(level);
}

/** The value of an uppercase hex digit, or -1. */
function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  return -1;
}

/** The byte of the `%XX` escape at `i`, or -1 when there is none. */
function byteAt(token: string, i: number): number {
  if (token.charCodeAt(i) !== PERCENT || i + 2 >= token.length) return -1;
  const hi = hexValue(token.charCodeAt(i + 1));
  const lo = hexValue(token.charCodeAt(i + 2));
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

/** Decodes a token, or returns the reason it is not the encoding of a level. */
export function tryDecodeToken(token: string): string | { problem: string } {
  const n = token.length;
  if (n === 0) return { problem: 'a token cannot be empty' };
  if (token === EMPTY_LEVEL_TOKEN) return '';
  let out = '';
  let runStart = 0; // start of the current run of literal characters
  let i = 0;
  while (i < n) {
    const c = token.charCodeAt(i);
    if (c !== PERCENT) {
      if (c === SLASH) return { problem: `'/' at index ${i} cannot be part of a level` };
      if (mustEscape(c)) return { problem: `character U+${hex4(c)} at index ${i} must be escaped` };
      if (isHighSurrogate(c) && i + 1 < n && isLowSurrogate(token.charCodeAt(i + 1))) i += 2;
      else if (c >= 0xd800 && c <= 0xdfff) return { problem: `lone surrogate at index ${i}` };
      else i++;
      continue;
    }
    out += token.slice(runStart, i);
    // One escaped character: one to three %XX bytes of UTF-8, shortest form.
    const b0 = byteAt(token, i);
    if (b0 < 0) return { problem: `'%' at index ${i} is not followed by two uppercase hex digits` };
    let code: number;
    let len: number;
    if (b0 < 0x80) {
      code = b0;
      len = 1;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      code = b0 & 0x1f;
      len = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      code = b0 & 0x0f;
      len = 3;
    } else {
      return { problem: `escape at index ${i} does not start a character that needs escaping` };
    }
    for (let k = 1; k < len; k++) {
      const b = byteAt(token, i + 3 * k);
      if (b < 0x80 || b > 0xbf) return { problem: `escape at index ${i} is not well-formed UTF-8` };
      code = (code << 6) | (b & 0x3f);
    }
    // Rejects overlong forms too: each escaped character's shortest form is the only one
    // whose decoded value must be escaped at that length.
    if ((len === 3 && code < 0x800) || !mustEscape(code)) {
      return { problem: `escape at index ${i} stands for a character that must stay literal` };
    }
    out += String.fromCharCode(code);
    i += 3 * len;
    runStart = i;
  }
  return runStart === 0 ? token : out + token.slice(runStart);
}

/** Four uppercase hex digits of a code unit. */
function hex4(code: number): string {
  return code.toString(16).toUpperCase().padStart(4, '0');
}

/**
 * Decodes one NATS subject token back into the MQTT level it encodes: the inverse of
 * {@link encodeLevel}. Throws {@link SubjectTokenInvalidError} for a token that encoding
 * never produces (a bad or needless escape, lowercase hex, a character that must be
 * escaped, `/`).
 */
export function decodeToken(token: string): string {
  const result = tryDecodeToken(token);
  if (typeof result === 'string') return result;
  throw new SubjectTokenInvalidError(token, result.problem);
}
