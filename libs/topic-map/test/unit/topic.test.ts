import {
  isValidTopicFilter,
  isValidTopicName,
  parseSharedSubscription,
  TopicFilterInvalidError,
  TopicNameInvalidError,
  topicMatches,
  validateTopicFilter,
  validateTopicName,
} from '@protomesh/topic-map';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

// Tags: a bare [MQTT-x] is MQTT 5.0 numbering; "(v3.1.1 [MQTT-y])" gives the 3.1.1 number of the same rule.

function nameError(topic: string): string {
  try {
    validateTopicName(topic);
  } catch (error) {
    expect(TopicNameInvalidError.is(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(topic)} to be rejected`);
}

function filterError(filter: string): string {
  try {
    validateTopicFilter(filter);
  } catch (error) {
    expect(TopicFilterInvalidError.is(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(filter)} to be rejected`);
}

describe('topic names', () => {
  it.each([
    'a',
    '/',
    '//',
    'a/',
    '/a',
    'a b',
    'sport/tennis/player1',
    '$SYS/broker',
    '温度/é/😀',
    'a.b*c>d%e',
    '\t\n\u00a0',
  ])('accepts %j', (topic) => {
    expect(isValidTopicName(topic)).toBe(true);
    expect(() => validateTopicName(topic)).not.toThrow();
  });

  it('[MQTT-4.7.3-1] must be at least one character long', () => {
    expect(nameError('')).toMatch(/at least one character.*\[MQTT-4\.7\.3-1\]/);
  });

  it.each(['+', 'a/+', 'a+', '#', 'a/#', 'a#b'])(
    '[MQTT-4.7.0-1] (v3.1.1 [MQTT-4.7.1-1]) wildcards are not allowed in a topic name: %j',
    (topic) => {
      expect(nameError(topic)).toMatch(/wildcard.*\[MQTT-4\.7\.0-1\]/);
    },
  );

  it('[MQTT-4.7.3-2] [MQTT-1.5.4-2] (v3.1.1 [MQTT-1.5.3-2]) must not include U+0000', () => {
    expect(nameError('a\u0000b')).toMatch(/U\+0000 at index 1.*\[MQTT-4\.7\.3-2\]/);
  });

  it.each(['\ud800', 'a\udc00', 'a\ud83d/b', '\ude00\ud83d'])(
    '[MQTT-1.5.4-1] (v3.1.1 [MQTT-1.5.3-1]) must be well-formed UTF-8 (no lone surrogates): %j',
    (topic) => {
      expect(nameError(topic)).toMatch(/lone surrogate.*\[MQTT-1\.5\.4-1\]/);
    },
  );

  it('[MQTT-4.7.3-3] must not encode to more than 65,535 bytes', () => {
    expect(isValidTopicName('a'.repeat(65_535))).toBe(true);
    expect(nameError('a'.repeat(65_536))).toMatch(/65536 bytes.*\[MQTT-4\.7\.3-3\]/);
    expect(isValidTopicName('温'.repeat(21_845))).toBe(true); // 3 bytes each: 65,535
    expect(isValidTopicName(`${'温'.repeat(21_845)}a`)).toBe(false);
    expect(isValidTopicName(`${'😀'.repeat(16_383)}abc`)).toBe(true); // 4 bytes each: 65,532 + 3
    expect(isValidTopicName('😀'.repeat(16_384))).toBe(false);
  });
});

describe('topic filters', () => {
  it.each(['a', '#', '+', 'a/#', '/#', 'a/+/b', '+/+', '/+', '+/', '+/#', 'a//#', '$SYS/#', '$share/g/a'])(
    'accepts %j',
    (filter) => {
      expect(isValidTopicFilter(filter)).toBe(true);
      expect(() => validateTopicFilter(filter)).not.toThrow();
    },
  );

  it('[MQTT-4.7.3-1] must be at least one character long', () => {
    expect(filterError('')).toMatch(/\[MQTT-4\.7\.3-1\]/);
  });

  it.each(['a#', 'a/#/b', '#/a', 'a/#b', '##', 'a/b#', '#/'])(
    "[MQTT-4.7.1-1] (v3.1.1 [MQTT-4.7.1-2]) '#' must be the whole last level: %j",
    (filter) => {
      expect(filterError(filter)).toMatch(/'#' at index \d+ .*\[MQTT-4\.7\.1-1\]/);
    },
  );

  it.each(['a+', '+a', 'a/+b', 'a/b+/c', '++', '+a/b'])(
    "[MQTT-4.7.1-2] (v3.1.1 [MQTT-4.7.1-3]) '+' must occupy a whole level: %j",
    (filter) => {
      expect(filterError(filter)).toMatch(/'\+' at index \d+ .*\[MQTT-4\.7\.1-2\]/);
    },
  );

  it('[MQTT-4.7.3-2] must not include U+0000', () => {
    expect(filterError('a/\u0000')).toMatch(/\[MQTT-4\.7\.3-2\]/);
  });

  it('[MQTT-1.5.4-1] must be well-formed UTF-8', () => {
    expect(filterError('a/\ud800/#')).toMatch(/\[MQTT-1\.5\.4-1\]/);
  });

  it('[MQTT-4.7.3-3] must not encode to more than 65,535 bytes', () => {
    expect(isValidTopicFilter(`${'a'.repeat(65_533)}/#`)).toBe(true);
    expect(filterError(`${'a'.repeat(65_534)}/#`)).toMatch(/\[MQTT-4\.7\.3-3\]/);
  });

  it('every valid topic name is a valid topic filter', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 12 }), (s) => {
        if (isValidTopicName(s)) expect(isValidTopicFilter(s)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('topicMatches', () => {
  // The non-normative examples of MQTT 5 §4.7.1 and §4.7.2.
  it.each([
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/#', 'sport', true],
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player2', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['#', 'a/b/c', true],
    ['#', '/', true],
  ])('%j matches %j: %j', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });

  it("'#' matches its parent level and everything below", () => {
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('a/#', 'a/')).toBe(true);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/#', 'ab')).toBe(false);
    expect(topicMatches('a/b/#', 'a')).toBe(false);
    expect(topicMatches('/#', '/')).toBe(true);
    expect(topicMatches('/#', 'a')).toBe(false);
    expect(topicMatches('+/#', 'a')).toBe(true);
  });

  it("'+' matches exactly one level, which may be empty", () => {
    expect(topicMatches('a/+', 'a/')).toBe(true);
    expect(topicMatches('+/b', '/b')).toBe(true);
    expect(topicMatches('+', 'a')).toBe(true);
    expect(topicMatches('a/+/c', 'a//c')).toBe(true);
    expect(topicMatches('a/+', 'a/b/c')).toBe(false);
    expect(topicMatches('a/+', 'a')).toBe(false);
  });

  it.each([
    ['#', '$SYS/monitor/Clients', false],
    ['#', '$SYS', false],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['+', '$', false],
    ['+/#', '$SYS/x', false],
    ['$SYS/#', '$SYS/monitor/Clients', true],
    ['$SYS/#', '$SYS', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['a/+', 'a/$x', true],
    ['a/#', 'a/$x/y', true],
  ])('[MQTT-4.7.2-1] first-level wildcards never match $ topics: %j vs %j is %j', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });

  it('[MQTT-4.7.3-4] compares without normalisation, case-sensitively', () => {
    expect(topicMatches('caf\u00e9', 'cafe\u0301')).toBe(false);
    expect(topicMatches('A/b', 'a/b')).toBe(false);
    expect(topicMatches('a /b', 'a/b')).toBe(false);
  });
});

describe('parseSharedSubscription', () => {
  it('returns undefined for an ordinary filter', () => {
    expect(parseSharedSubscription('a/b')).toBeUndefined();
    expect(parseSharedSubscription('$share')).toBeUndefined();
    expect(parseSharedSubscription('$SHARE/g/a')).toBeUndefined();
    expect(parseSharedSubscription('#')).toBeUndefined();
  });

  it.each([
    ['$share/g/a/+', 'g', 'a/+'],
    ['$share/group-1/#', 'group-1', '#'],
    ['$share/g//', 'g', '/'],
    ['$share/g/$SYS/x', 'g', '$SYS/x'],
    ['$share/温度/a', '温度', 'a'],
  ])('splits %j', (shared, group, filter) => {
    expect(parseSharedSubscription(shared)).toEqual({ group, filter });
  });

  it('[MQTT-4.8.2-1] the share name is at least one character long', () => {
    expect(() => parseSharedSubscription('$share//a')).toThrowError(/\[MQTT-4\.8\.2-1\]/);
  });

  it.each(['$share/g', '$share/', '$share/g/', '$share/+/a', '$share/#/a', '$share/a+/b'])(
    "[MQTT-4.8.2-2] the share name has no '/', '+' or '#' and is followed by '/' and a filter: %j",
    (shared) => {
      expect(() => parseSharedSubscription(shared)).toThrowError(/\[MQTT-4\.8\.2-2\]/);
    },
  );

  it.each(['$share/g/a/#/b', '$share/g/a+', '$share/g/\u0000'])('rejects an invalid inner filter %j', (shared) => {
    expect(() => parseSharedSubscription(shared)).toThrowError(
      expect.objectContaining({ code: 'PM_TOPIC_FILTER_INVALID' }),
    );
  });

  it('throws PM_TOPIC_FILTER_INVALID for every malformed $share filter', () => {
    expect(() => parseSharedSubscription('$share/g')).toThrowError(
      expect.objectContaining({ code: 'PM_TOPIC_FILTER_INVALID', name: 'TopicFilterInvalidError' }),
    );
  });
});
