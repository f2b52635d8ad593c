/**
 * MQTT topic names and topic filters: validation, matching and shared subscriptions.
 *
 * Spec tags: a bare tag such as `[MQTT-4.7.1-1]` is MQTT 5.0 numbering; where MQTT 3.1.1
 * numbers the same rule differently, its tag follows with `(v3.1.1)`. The rules agree
 * between the versions; only the numbering moved (v5 inserted [MQTT-4.7.0-1]).
 */
import { loneSurrogateIndex, utf8Length } from './chars.js';
import { TopicFilterInvalidError, TopicNameInvalidError } from './errors.js';

/** Longest topic name or filter, in UTF-8 bytes: a UTF-8 Encoded String has a 2-byte length. */
export const MAX_TOPIC_BYTES = 65_535;

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;

/** The reason `topic` is not a valid topic name, or undefined when it is. */
function topicNameProblem(topic: string): string | undefined {
  // [MQTT-4.7.3-1] at least one character.
  if (topic.length === 0) return 'must be at least one character long [MQTT-4.7.3-1]';
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    // [MQTT-4.7.0-1] / [MQTT-4.7.1-1] (v3.1.1): wildcards only in filters.
    if (c === PLUS || c === HASH) {
      return `wildcard '${String.fromCharCode(c)}' at index ${i} is not allowed in a topic name [MQTT-4.7.0-1]`;
    }
    // [MQTT-4.7.3-2], [MQTT-1.5.4-2] / [MQTT-1.5.3-2] (v3.1.1): no U+0000.
    if (c === 0) return `U+0000 at index ${i} is not allowed [MQTT-4.7.3-2]`;
  }
  return encodingProblem(topic);
}

/** Shared by names and filters: well-formed UTF-8 and the 65,535-byte limit. */
function encodingProblem(s: string): string | undefined {
  // [MQTT-1.5.4-1] / [MQTT-1.5.3-1] (v3.1.1): no encodings of U+D800–U+DFFF. A JS string
  // can only express one as a lone surrogate; a valid pair is one supplementary character.
  const lone = loneSurrogateIndex(s);
  if (lone !== -1) return `lone surrogate at index ${lone} is not well-formed UTF-8 [MQTT-1.5.4-1]`;
  // [MQTT-4.7.3-3]: must not encode to more than 65,535 bytes.
  const bytes = utf8Length(s);
  if (bytes > MAX_TOPIC_BYTES) return `encodes to ${bytes} bytes, over ${MAX_TOPIC_BYTES} [MQTT-4.7.3-3]`;
  return undefined;
}

/** The reason `filter` is not a valid topic filter, or undefined when it is. */
function topicFilterProblem(filter: string): string | undefined {
  const n = filter.length;
  if (n === 0) return 'must be at least one character long [MQTT-4.7.3-1]';
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c === HASH) {
      // [MQTT-4.7.1-1] / [MQTT-4.7.1-2] (v3.1.1): '#' on its own or after '/', and last.
      if ((i > 0 && filter.charCodeAt(i - 1) !== SLASH) || i !== n - 1) {
        return `'#' at index ${i} must be the whole last level [MQTT-4.7.1-1]`;
      }
    } else if (c === PLUS) {
      // [MQTT-4.7.1-2] / [MQTT-4.7.1-3] (v3.1.1): '+' occupies an entire level.
      if ((i > 0 && filter.charCodeAt(i - 1) !== SLASH) || (i < n - 1 && filter.charCodeAt(i + 1) !== SLASH)) {
        return `'+' at index ${i} must occupy a whole level [MQTT-4.7.1-2]`;
      }
    } else if (c === 0) {
      return `U+0000 at index ${i} is not allowed [MQTT-4.7.3-2]`;
    }
  }
  return encodingProblem(filter);
}

/**
 * Throws {@link TopicNameInvalidError} unless `topic` is a valid MQTT topic name (MQTT 5 §4.7,
 * §1.5.4; 3.1.1 §4.7, §1.5.3): at least one character, no `+` or `#`, no U+0000, well-formed
 * UTF-16 (so well-formed UTF-8), at most 65,535 UTF-8 bytes.
 */
export function validateTopicName(topic: string): void {
  const problem = topicNameProblem(topic);
  if (problem !== undefined) throw new TopicNameInvalidError(topic, problem);
}

/**
 * Throws {@link TopicFilterInvalidError} unless `filter` is a valid MQTT topic filter: at least
 * one character, `#` only as the whole last level, `+` only as a whole level, no U+0000,
 * well-formed, at most 65,535 UTF-8 bytes. A `$share/…` filter is checked as a plain filter;
 * see {@link parseSharedSubscription} for its extra rules.
 */
export function validateTopicFilter(filter: string): void {
  const problem = topicFilterProblem(filter);
  if (problem !== undefined) throw new TopicFilterInvalidError(filter, problem);
}

/** True when `topic` is a valid MQTT topic name (see {@link validateTopicName}). */
export function isValidTopicName(topic: string): boolean {
  return topicNameProblem(topic) === undefined;
}

/** True when `filter` is a valid MQTT topic filter (see {@link validateTopicFilter}). */
export function isValidTopicFilter(filter: string): boolean {
  return topicFilterProblem(filter) === undefined;
}

/**
 * True when the MQTT topic filter matches the topic name: `+` matches exactly one level (which
 * may be empty), `#` this level and every level below, including the parent (`a/#` matches
 * `a`). A filter whose first level is a wildcard never matches a topic starting with `$`
 * [MQTT-4.7.2-1]. Levels compare code unit by code unit, with no normalisation
 * [MQTT-4.7.3-4]. Both arguments are assumed valid; strip `$share/<group>/` first.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f0 = filter.charCodeAt(0);
  // [MQTT-4.7.2-1]
  if ((f0 === PLUS || f0 === HASH) && topic.charCodeAt(0) === DOLLAR) return false;
  const fn = filter.length;
  const tn = topic.length;
  let f = 0;
  let t = 0;
  let topicDone = false;
  for (;;) {
    let fEnd = filter.indexOf('/', f);
    if (fEnd === -1) fEnd = fn;
    const single = fEnd - f === 1;
    // '#' is always the whole last level of a valid filter: it matches what is left, even nothing.
    if (single && filter.charCodeAt(f) === HASH) return true;
    if (topicDone) return false;
    let tEnd = topic.indexOf('/', t);
    if (tEnd === -1) tEnd = tn;
    if (!(single && filter.charCodeAt(f) === PLUS)) {
      const len = fEnd - f;
      if (len !== tEnd - t) return false;
      for (let k = 0; k < len; k++) {
        if (filter.charCodeAt(f + k) !== topic.charCodeAt(t + k)) return false;
      }
    }
    if (fEnd === fn) return tEnd === tn;
    f = fEnd + 1;
    if (tEnd === tn) topicDone = true;
    else t = tEnd + 1;
  }
}

/** The prefix of every shared subscription filter (MQTT 5 §4.8.2). */
const SHARE_PREFIX = '$share/';

/**
 * Splits an MQTT 5 shared subscription `$share/<group>/<filter>` (§4.8.2). Returns undefined
 * for a filter that does not start with `$share/` (an ordinary subscription). Throws
 * {@link TopicFilterInvalidError} when it does but is malformed: an empty group
 * [MQTT-4.8.2-1], a group containing `+` or `#` or not followed by `/` and a valid topic
 * filter [MQTT-4.8.2-2].
 */
export function parseSharedSubscription(filter: string): { group: string; filter: string } | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  if (slash === -1) {
    throw new TopicFilterInvalidError(
      filter,
      "the share name must be followed by '/' and a topic filter [MQTT-4.8.2-2]",
    );
  }
  const group = filter.slice(SHARE_PREFIX.length, slash);
  if (group.length === 0) {
    throw new TopicFilterInvalidError(filter, 'the share name must be at least one character long [MQTT-4.8.2-1]');
  }
  if (group.includes('+') || group.includes('#')) {
    throw new TopicFilterInvalidError(filter, "the share name must not contain '+' or '#' [MQTT-4.8.2-2]");
  }
  const inner = filter.slice(slash + 1);
  if (inner.length === 0) {
    throw new TopicFilterInvalidError(
      filter,
      "the share name must be followed by '/' and a topic filter [MQTT-4.8.2-2]",
    );
  }
  // The rest of the rules (U+0000, well-formed, 65,535 bytes) apply to the filter as sent;
  // since the group holds no wildcard, a valid whole means a valid inner filter.
  validateTopicFilter(filter);
  return { group, filter: inner };
}
