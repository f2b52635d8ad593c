/**
 * The reversible mapping between MQTT topics and NATS subjects (DESIGN.md "Topic model"):
 *
 *   `<prefix>.<tier>.<class>.<one token per MQTT level>`
 *
 * The class token is `0` (published at QoS 0) or `1` (QoS 1 or 2, captured by JetStream),
 * written `$0` / `$1` when the topic starts with `$`. NATS wildcards cannot exclude tokens,
 * so the `$` marker in the class token is what keeps first-level wildcards away from `$`
 * topics [MQTT-4.7.2-1]: a filter starting with `+` or `#` subscribes to the plain class
 * tokens only.
 */
import { utf8Length } from './chars.js';
import { PrefixInvalidError, QosClassInvalidError, SubjectTooLongError, TierInvalidError } from './errors.js';
import { escapeLevel, tryDecodeToken } from './escape.js';
import { isValidTopicName, validateTopicFilter, validateTopicName } from './topic.js';

/** A topic space: MQTT clients or WebSocket apps. Traffic stays in its tier unless a bridge route carries it. */
export type Tier = 'mqtt' | 'ws';

/** Every tier, in a stable order. */
export const TIERS: readonly Tier[] = Object.freeze(['mqtt', 'ws'] as const);

/** '0' = published at QoS 0; '1' = QoS 1 or 2 (captured by JetStream). */
export type QosClass = '0' | '1';

/** Every QoS class, in a stable order. */
const CLASSES: readonly QosClass[] = ['0', '1'];

/** Where a tier's subjects live: `<prefix>.<tier>.…`. */
export interface SubjectSpace {
  readonly prefix: string;
  readonly tier: Tier;
}

/** The subject prefix when none is configured. */
export const DEFAULT_PREFIX = 'mesh';

/**
 * Longest subject the mesh produces, in UTF-8 bytes. NATS's default `max_control_line` is
 * 4 KiB, and a `PUB`/`HPUB`/`MSG` control line must also hold a reply subject and sizes.
 */
export const MAX_SUBJECT_BYTES = 3_500;

const DOLLAR = 0x24;
const PREFIX_RE = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/** The class a message published at an MQTT QoS belongs to: `'0'` for QoS 0, `'1'` for QoS 1 and 2. */
export function qosClass(qos: 0 | 1 | 2): QosClass {
  return qos === 0 ? '0' : '1';
}

/** Throws {@link PrefixInvalidError} unless `prefix` is tokens of `[A-Za-z0-9_-]+` joined by `.`. */
export function validatePrefix(prefix: string): void {
  if (PREFIX_RE.test(prefix)) return;
  let reason = "must be tokens of [A-Za-z0-9_-] joined by '.'";
  if (prefix.length === 0) reason = 'must not be empty';
  else if (prefix.split('.').includes('')) reason = 'must not have an empty token';
  throw new PrefixInvalidError(prefix, reason);
}

/** Validates a subject space; cheap enough for every call. */
function checkSpace(space: SubjectSpace): void {
  validatePrefix(space.prefix);
  if (space.tier !== 'mqtt' && space.tier !== 'ws') throw new TierInvalidError(space.tier);
}

function checkClass(cls: QosClass): void {
  if (cls !== '0' && cls !== '1') throw new QosClassInvalidError(cls);
}

function checkLength(subject: string): void {
  // A subject is at most 3 bytes per UTF-16 unit; skip the count when it cannot be too long.
  if (subject.length * 3 <= MAX_SUBJECT_BYTES) return;
  const bytes = utf8Length(subject);
  if (bytes > MAX_SUBJECT_BYTES) throw new SubjectTooLongError(bytes, MAX_SUBJECT_BYTES);
}

/** `levels` escaped and joined into subject tokens. */
function levelTokens(levels: readonly string[]): string {
  let out = escapeLevel(levels[0]!);
  for (let i = 1; i < levels.length; i++) out += `.${escapeLevel(levels[i]!)}`;
  return out;
}

/**
 * The NATS subject a message on `topic` is published to, for its QoS class. Throws
 * {@link TopicNameInvalidError} for an invalid topic name, {@link PrefixInvalidError},
 * {@link TierInvalidError} or {@link QosClassInvalidError} for a bad space or class, and
 * {@link SubjectTooLongError} over {@link MAX_SUBJECT_BYTES}.
 */
export function topicToSubject(space: SubjectSpace, topic: string, cls: QosClass): string {
  checkSpace(space);
  checkClass(cls);
  validateTopicName(topic);
  const marker = topic.charCodeAt(0) === DOLLAR ? '$' : '';
  const subject = `${space.prefix}.${space.tier}.${marker}${cls}.${levelTokens(topic.split('/'))}`;
  checkLength(subject);
  return subject;
}

/**
 * The tier, class and topic of a mesh message subject under `prefix`: the inverse of
 * {@link topicToSubject}. Undefined when `subject` is not one: another prefix, an unknown
 * tier or class token, a token that is not a canonical level encoding, a `$` marker that
 * disagrees with the topic, or a topic that is not a valid topic name.
 */
export function subjectToTopic(
  prefix: string,
  subject: string,
): { tier: Tier; cls: QosClass; topic: string } | undefined {
  const p = prefix.length;
  if (p === 0 || !subject.startsWith(prefix) || subject.charCodeAt(p) !== 0x2e) return undefined;
  const tierEnd = subject.indexOf('.', p + 1);
  if (tierEnd === -1) return undefined;
  const tier = subject.slice(p + 1, tierEnd);
  if (tier !== 'mqtt' && tier !== 'ws') return undefined;
  const clsEnd = subject.indexOf('.', tierEnd + 1);
  if (clsEnd === -1) return undefined;
  const clsToken = subject.slice(tierEnd + 1, clsEnd);
  let cls: QosClass;
  let dollar = false;
  switch (clsToken) {
    case '0':
    case '1':
      cls = clsToken;
      break;
    case '$0':
    case '$1':
      cls = clsToken === '$0' ? '0' : '1';
      dollar = true;
      break;
    default:
      return undefined;
  }
  const tokens = subject.slice(clsEnd + 1).split('.');
  let topic = '';
  for (let i = 0; i < tokens.length; i++) {
    const level = tryDecodeToken(tokens[i]!);
    if (typeof level !== 'string') return undefined;
    topic = i === 0 ? level : `${topic}/${level}`;
  }
  if ((topic.charCodeAt(0) === DOLLAR) !== dollar) return undefined;
  if (!isValidTopicName(topic)) return undefined;
  return { tier, cls, topic };
}

/**
 * The NATS subjects to subscribe to for the MQTT topic filter `filter` in `space`,
 * deduplicated and in a stable order. By default both classes (a live subscriber); with
 * `classes: ['1']` only subjects JetStream captures (for stream consumer filters, each a
 * subset of {@link streamSubjects}).
 *
 * `+` becomes `*`; a trailing `/#` becomes the parent subject plus the parent with `.>`
 * (`#` includes its parent); `#` alone becomes `>` after the class token. When the first
 * level is a wildcard only the plain class tokens are used, so `$` topics never match
 * [MQTT-4.7.2-1]; when it is a literal, the class token is `*` for both classes (the
 * literal already decides the `$` marker). Pass the filter of a shared subscription
 * without its `$share/<group>/`. Throws {@link TopicFilterInvalidError}, the space and
 * class errors of {@link topicToSubject}, and {@link SubjectTooLongError}.
 */
export function filterToSubjects(
  space: SubjectSpace,
  filter: string,
  options?: { classes?: readonly QosClass[] },
): string[] {
  checkSpace(space);
  validateTopicFilter(filter);
  const requested = options?.classes ?? CLASSES;
  for (const cls of requested) checkClass(cls);
  const classes = CLASSES.filter((c) => requested.includes(c));
  if (classes.length === 0) return [];

  const levels = filter.split('/');
  const first = levels[0]!;
  const firstIsWildcard = first === '+' || first === '#';
  let classTokens: readonly string[];
  if (firstIsWildcard) {
    // [MQTT-4.7.2-1]: only the plain class tokens, never the '$' forms.
    classTokens = classes;
  } else if (classes.length === CLASSES.length) {
    classTokens = ['*']; // the literal first level already decides the '$' marker
  } else {
    const marker = first.charCodeAt(0) === DOLLAR ? '$' : '';
    classTokens = classes.map((c) => `${marker}${c}`);
  }

  const multi = levels[levels.length - 1] === '#';
  const body = multi ? levels.slice(0, -1) : levels;
  const tokens = body.map((level) => (level === '+' ? '*' : escapeLevel(level)));

  // Suffixes after `<prefix>.<tier>.<class>`.
  let suffixes: string[];
  if (!multi) {
    suffixes = [`.${tokens.join('.')}`];
  } else if (tokens.length === 0) {
    suffixes = ['.>']; // '#' alone
  } else if (tokens[tokens.length - 1] === '*') {
    // `X.*` plus `X.*.>` is exactly `X.>`: one subscription instead of two.
    const head = tokens.slice(0, -1);
    suffixes = [head.length === 0 ? '.>' : `.${head.join('.')}.>`];
  } else {
    const parent = `.${tokens.join('.')}`;
    suffixes = [parent, `${parent}.>`]; // '#' also matches the parent level [MQTT-4.7.1-1]
  }

  const out = new Set<string>();
  for (const cls of classTokens) {
    for (const suffix of suffixes) {
      const subject = `${space.prefix}.${space.tier}.${cls}${suffix}`;
      checkLength(subject);
      out.add(subject);
    }
  }
  return [...out];
}

/**
 * The subjects the tier's JetStream stream captures: every class-`1` subject, in both the
 * plain and the `$` form.
 */
export function streamSubjects(space: SubjectSpace): string[] {
  checkSpace(space);
  return [`${space.prefix}.${space.tier}.1.>`, `${space.prefix}.${space.tier}.$1.>`];
}
