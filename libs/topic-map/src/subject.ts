/**
 * NATS subject syntax and wildcard matching, plus {@link SubjectIndex}, a token trie that
 * matches one subject against many patterns. Used by the in-process backbone and for local
 * fan-out in the edges, so the matchers avoid allocation beyond one `split`.
 *
 * Rules (NATS "Subject-Based Messaging"): a subject is non-empty tokens separated by `.`;
 * no whitespace; in a pattern `*` matches exactly one token and `>` one or more trailing
 * tokens, and each is valid only as a whole token, `>` only as the last one. A plain
 * (publish) subject has no wildcards.
 */
import { isHighSurrogate, isLowSurrogate, isSpaceOrControl } from './chars.js';
import { SubjectPatternInvalidError } from './errors.js';

const DOT = 0x2e;
const STAR = 0x2a;
const GT = 0x3e;

/**
 * Scans `s` as a subject. Returns true when valid; `wildcards` allows `*` and `>` tokens.
 * Besides the NATS rules it rejects lone surrogates, which no UTF-8 subject can carry.
 */
function scan(s: string, wildcards: boolean): boolean {
  const n = s.length;
  if (n === 0) return false;
  let tokenStart = 0;
  let sawFullWildcard = false;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : DOT;
    if (c === DOT) {
      const len = i - tokenStart;
      if (len === 0 || sawFullWildcard) return false; // empty token, or a token after '>'
      if (len === 1) {
        const t = s.charCodeAt(tokenStart);
        if (t === STAR || t === GT) {
          if (!wildcards) return false;
          if (t === GT) sawFullWildcard = true;
        }
      }
      tokenStart = i + 1;
      continue;
    }
    if (c === STAR || c === GT) {
      // A wildcard character is valid only as a whole token.
      const prev = i === tokenStart ? DOT : s.charCodeAt(i - 1);
      const next = i + 1 < n ? s.charCodeAt(i + 1) : DOT;
      if (prev !== DOT || next !== DOT) return false;
      continue;
    }
    if (isSpaceOrControl(c)) return false;
    if (c >= 0xd800 && c <= 0xdfff) {
      if (isHighSurrogate(c) && i + 1 < n && isLowSurrogate(s.charCodeAt(i + 1))) {
        i++;
        continue;
      }
      return false;
    }
  }
  return true;
}

/** True when `subject` is a valid NATS subject to publish to: non-empty tokens, no whitespace, no wildcards. */
export function isValidSubject(subject: string): boolean {
  return scan(subject, false);
}

/** True when `pattern` is a valid NATS subscription subject: as a subject, plus whole-token `*`, and `>` as the last token. */
export function isValidSubjectPattern(pattern: string): boolean {
  return scan(pattern, true);
}

/**
 * True when the NATS subscription `pattern` matches the plain `subject`: `*` matches exactly
 * one token, `>` one or more trailing tokens, any other token itself. Both are assumed valid
 * (see {@link isValidSubjectPattern}, {@link isValidSubject}).
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const pn = pattern.length;
  const sn = subject.length;
  let p = 0;
  let s = 0;
  while (p < pn) {
    if (s >= sn) return false; // pattern has tokens left, subject has none
    const pc = pattern.charCodeAt(p);
    const pEnd = p + 1 >= pn || pattern.charCodeAt(p + 1) === DOT;
    let sEnd = subject.indexOf('.', s);
    if (sEnd === -1) sEnd = sn;
    if (pEnd && pc === GT) return true; // '>' needs one or more tokens: s < sn holds
    if (pEnd && pc === STAR) {
      p += 2;
    } else {
      let pTokEnd = pattern.indexOf('.', p);
      if (pTokEnd === -1) pTokEnd = pn;
      const len = pTokEnd - p;
      if (len !== sEnd - s) return false;
      for (let k = 0; k < len; k++) {
        if (pattern.charCodeAt(p + k) !== subject.charCodeAt(s + k)) return false;
      }
      p = pTokEnd + 1;
    }
    s = sEnd + 1;
  }
  return s >= sn;
}

/** One level of the trie: children by literal token, the `*` child, and values ending here. */
class Node<T> {
  literal: Map<string, Node<T>> | undefined;
  star: Node<T> | undefined;
  /** Values of patterns that end at this node. */
  values: Set<T> | undefined;
  /** Values of patterns that end with `>` after this node. */
  rest: Set<T> | undefined;

  isEmpty(): boolean {
    return (
      (this.literal === undefined || this.literal.size === 0) &&
      this.star === undefined &&
      (this.values === undefined || this.values.size === 0) &&
      (this.rest === undefined || this.rest.size === 0)
    );
  }
}

/**
 * An index of NATS subject patterns, each with values, for matching one subject against
 * many patterns in time proportional to the subject's tokens (not the number of patterns).
 * A (pattern, value) pair is held at most once.
 */
export class SubjectIndex<T> {
  #root = new Node<T>();
  #size = 0;

  /** How many (pattern, value) pairs the index holds. */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds `value` under `pattern`. Returns false when that pair was already present.
   * Throws {@link SubjectPatternInvalidError} for an invalid pattern.
   */
  add(pattern: string, value: T): boolean {
    if (!isValidSubjectPattern(pattern)) throw new SubjectPatternInvalidError(pattern);
    const tokens = pattern.split('.');
    let node = this.#root;
    const last = tokens.length - 1;
    for (let i = 0; i < last; i++) node = child(node, tokens[i]!);
    let set: Set<T>;
    if (tokens[last] === '>') {
      node.rest ??= new Set();
      set = node.rest;
    } else {
      const leaf = child(node, tokens[last]!);
      leaf.values ??= new Set();
      set = leaf.values;
    }
    if (set.has(value)) return false;
    set.add(value);
    this.#size++;
    return true;
  }

  /** Removes `value` from `pattern`; returns false when the pair was not present. Prunes empty branches. */
  remove(pattern: string, value: T): boolean {
    if (!isValidSubjectPattern(pattern)) return false;
    const removed = removeAt(this.#root, pattern.split('.'), 0, value);
    if (removed) this.#size--;
    return removed;
  }

  /**
   * The values of every pattern matching `subject` (a plain subject, see {@link isValidSubject}).
   * A value appears once per distinct pattern it was added under that matches.
   */
  match(subject: string): T[] {
    const out: T[] = [];
    if (this.#size === 0) return out;
    collect(this.#root, subject.split('.'), 0, out);
    return out;
  }
}

/** The child of `node` for a pattern token, created on demand. */
function child<T>(node: Node<T>, token: string): Node<T> {
  if (token === '*') {
    node.star ??= new Node<T>();
    return node.star;
  }
  node.literal ??= new Map();
  let next = node.literal.get(token);
  if (next === undefined) {
    next = new Node<T>();
    node.literal.set(token, next);
  }
  return next;
}

/** Removes `value` from the pattern `tokens[i…]` below `node`, pruning children left empty. */
function removeAt<T>(node: Node<T>, tokens: string[], i: number, value: T): boolean {
  const token = tokens[i]!;
  if (i === tokens.length - 1 && token === '>') return node.rest?.delete(value) ?? false;
  const next = token === '*' ? node.star : node.literal?.get(token);
  if (next === undefined) return false;
  const removed =
    i === tokens.length - 1 ? (next.values?.delete(value) ?? false) : removeAt(next, tokens, i + 1, value);
  if (removed && next.isEmpty()) {
    if (token === '*') node.star = undefined;
    else node.literal!.delete(token);
  }
  return removed;
}

/** Pushes onto `out` the values of every pattern below `node` matching `tokens[i…]`. */
function collect<T>(node: Node<T>, tokens: string[], i: number, out: T[]): void {
  if (i === tokens.length) {
    if (node.values !== undefined) for (const v of node.values) out.push(v);
    return;
  }
  // '>' matches one or more tokens, and at least tokens[i] is left.
  if (node.rest !== undefined) for (const v of node.rest) out.push(v);
  const literal = node.literal?.get(tokens[i]!);
  if (literal !== undefined) collect(literal, tokens, i + 1, out);
  if (node.star !== undefined) collect(node.star, tokens, i + 1, out);
}
