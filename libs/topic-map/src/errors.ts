/**
 * The error catalogue of `@protomesh/topic-map`. Codes are stable and never reused; each
 * carries a description (checked by `test/unit/errors.test.ts`).
 */
import { defineError } from '@protomesh/errors';

/** Longest excerpt of an offending value quoted in a message (topics may be 64 KiB). */
const QUOTE_MAX_CHARS = 80;

/** Quotes a value for an error message, shortened so messages stay log-friendly. */
function quote(value: string): string {
  const short = value.length > QUOTE_MAX_CHARS ? `${value.slice(0, QUOTE_MAX_CHARS)}…` : value;
  return JSON.stringify(short);
}

/** An MQTT topic name (the topic of a PUBLISH or a WebSocket publish) breaks a spec rule. */
export const TopicNameInvalidError = defineError(
  'PM_TOPIC_NAME_INVALID',
  'TopicNameInvalidError',
  'An MQTT topic name breaks a rule of MQTT 5 §4.7 / §1.5.4 (empty, wildcard, U+0000, lone surrogate, too long).',
  (topic: string, reason: string) => `invalid topic name ${quote(topic)}: ${reason}`,
);

/** An MQTT topic filter (of a SUBSCRIBE or a WebSocket subscribe) breaks a spec rule. */
export const TopicFilterInvalidError = defineError(
  'PM_TOPIC_FILTER_INVALID',
  'TopicFilterInvalidError',
  'An MQTT topic filter breaks a rule of MQTT 5 §4.7 / §4.8.2 (misplaced wildcard, U+0000, too long, malformed $share).',
  (filter: string, reason: string) => `invalid topic filter ${quote(filter)}: ${reason}`,
);

/** The NATS subject a topic or filter maps to exceeds {@link MAX_SUBJECT_BYTES}. */
export const SubjectTooLongError = defineError(
  'PM_SUBJECT_TOO_LONG',
  'SubjectTooLongError',
  'The NATS subject a topic or filter maps to is longer than the mesh allows (MAX_SUBJECT_BYTES, UTF-8).',
  (bytes: number, max: number) => `NATS subject would be ${bytes} bytes (UTF-8); the limit is ${max}`,
);

/** A mesh subject prefix is not `.`-joined tokens of `[A-Za-z0-9_-]`. */
export const PrefixInvalidError = defineError(
  'PM_PREFIX_INVALID',
  'PrefixInvalidError',
  'A mesh subject prefix must be one or more tokens of [A-Za-z0-9_-] joined by ".".',
  (prefix: string, reason: string) => `invalid subject prefix ${quote(prefix)}: ${reason}`,
);

/** A tier is not one of `TIERS`. */
export const TierInvalidError = defineError(
  'PM_TIER_INVALID',
  'TierInvalidError',
  'A topic space tier must be one of "mqtt" or "ws".',
  (tier: string) => `invalid tier ${quote(String(tier))}: expected "mqtt" or "ws"`,
);

/** A QoS class is not `'0'` or `'1'`. */
export const QosClassInvalidError = defineError(
  'PM_QOS_CLASS_INVALID',
  'QosClassInvalidError',
  'A QoS class must be "0" (published at QoS 0) or "1" (QoS 1 or 2).',
  (cls: string) => `invalid QoS class ${quote(String(cls))}: expected "0" or "1"`,
);

/** A NATS subject pattern handed to `SubjectIndex` is not valid NATS syntax. */
export const SubjectPatternInvalidError = defineError(
  'PM_SUBJECT_PATTERN_INVALID',
  'SubjectPatternInvalidError',
  'A NATS subject pattern is not valid: empty token, whitespace or control character, or a misplaced "*" / ">".',
  (pattern: string) => `invalid NATS subject pattern ${quote(pattern)}`,
);

/** A NATS token is not the canonical escaping of one MQTT level. */
export const SubjectTokenInvalidError = defineError(
  'PM_SUBJECT_TOKEN_INVALID',
  'SubjectTokenInvalidError',
  'A NATS subject token is not the canonical escaping of an MQTT topic level (bad or needless %XX escape, reserved character).',
  (token: string, reason: string) => `invalid subject token ${quote(token)}: ${reason}`,
);
