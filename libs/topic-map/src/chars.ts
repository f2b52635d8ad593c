/**
 * Character classes shared by NATS subject validation and MQTT level escaping. Internal to
 * the package: the public API is in `subject.ts` and `topic.ts`.
 */

/**
 * True for a UTF-16 code unit that is a whitespace or control character: U+0000–U+0020,
 * U+007F–U+009F and every other Unicode whitespace (plus U+FEFF, which JavaScript's `\s`
 * includes). nats-server itself rejects space, `\t`, `\r`, `\n` and `\f` in subjects; the
 * wider set keeps subjects safe for every NATS client, for logs and for the protocol's
 * control line. None of these is a surrogate, so testing code units is exact.
 */
export function isSpaceOrControl(code: number): boolean {
  if (code <= 0x20) return true;
  if (code < 0x7f) return false;
  if (code <= 0x9f) return true;
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** True for a UTF-16 high (leading) surrogate. */
export function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** True for a UTF-16 low (trailing) surrogate. */
export function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * Index of the first lone surrogate in `s`, or -1 when `s` is well-formed UTF-16 (and so
 * encodes to well-formed UTF-8).
 */
export function loneSurrogateIndex(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (isHighSurrogate(c) && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) {
      i++;
      continue;
    }
    return i;
  }
  return -1;
}

/**
 * The length of `s` in UTF-8 bytes, without allocating. A lone surrogate counts 3 bytes
 * (what `TextEncoder` writes for its U+FFFD replacement).
 */
export function utf8Length(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (isHighSurrogate(c) && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) {
      // A surrogate pair is 2 code units and 4 bytes.
      bytes += 2;
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}
