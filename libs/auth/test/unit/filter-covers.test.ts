import { filterCovers } from '@protomesh/auth';
import { isValidTopicFilter, topicMatches } from '@protomesh/topic-map';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describe('filterCovers', () => {
  it.each([
    ['a/#', 'a/+/c', true],
    ['a/#', 'a', true],
    ['a/#', 'a/#', true],
    ['#', 'a/b/c', true],
    ['#', '+/#', true],
    ['+/+', 'a/b', true],
    ['+/b', '+/b', true],
    ['+/#', '#', true],
    ['+/+/#', '#', false],
    ['a/+/#', 'a/#', false],
    ['a/+', 'a/#', false],
    ['a/+', 'a', false],
    ['a/b', 'a/+', false],
    ['a/+/c', 'a/#', false],
    ['a', 'a/b', false],
    ['a/b', 'a', false],
    ['$SYS/#', '$SYS/broker/load', true],
    ['$SYS/+', '$SYS/x', true],
  ])('filterCovers(%j, %j) is %s', (outer, inner, expected) => {
    expect(filterCovers(outer, inner)).toBe(expected);
  });

  it('[MQTT-4.7.2-1] a first-level wildcard does not cover a $ topic filter', () => {
    expect(filterCovers('#', '$SYS/#')).toBe(false);
    expect(filterCovers('#', '$SYS')).toBe(false);
    expect(filterCovers('+/#', '$share-like/x')).toBe(false);
    expect(filterCovers('+/x', '$a/x')).toBe(false);
    // ...but it covers a wildcard-first filter, which matches no $ topic either.
    expect(filterCovers('#', '+/x')).toBe(true);
  });

  // Levels drawn from a tiny alphabet so filters and topics collide often.
  const level = fc.constantFrom('a', 'b', '', '$a', 'c');
  const filterLevel = fc.oneof(level, fc.constant('+'));
  const filter = fc
    .tuple(fc.array(filterLevel, { minLength: 1, maxLength: 4 }), fc.boolean())
    .map(([levels, hash]) => (hash ? [...levels.slice(0, -1), '#'] : levels).join('/'))
    .filter(isValidTopicFilter);
  const topic = fc.array(level, { minLength: 1, maxLength: 5 }).map((levels) => levels.join('/'));

  it('property: if covers(A, B), every topic matched by B is matched by A', () => {
    fc.assert(
      fc.property(filter, filter, fc.array(topic, { minLength: 20, maxLength: 40 }), (a, b, topics) => {
        if (!filterCovers(a, b)) return;
        for (const t of topics) if (topicMatches(b, t)) expect(topicMatches(a, t), `${a} ⊇ ${b} on ${t}`).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('exhaustively equals containment over a small universe (sound and complete)', () => {
    // Filters of up to 3 levels over {a, $a, +, #}; topics of up to 4 levels over {a, $a, c, ''}
    // ("c" and one extra level are the witnesses a non-covering pair needs).
    const filterLevels = ['a', '$a', '+', '#'];
    const filters: string[] = [];
    const grow = (prefix: string[]): void => {
      if (prefix.length > 0 && isValidTopicFilter(prefix.join('/'))) filters.push(prefix.join('/'));
      if (prefix.length < 3) for (const l of filterLevels) grow([...prefix, l]);
    };
    grow([]);
    const topics: string[] = [];
    const growTopic = (prefix: string[]): void => {
      if (prefix.length > 0) topics.push(prefix.join('/'));
      if (prefix.length < 4) for (const l of ['a', '$a', 'c', '']) growTopic([...prefix, l]);
    };
    growTopic([]);
    let covering = 0;
    for (const a of filters) {
      for (const b of filters) {
        const semantic = topics.every((t) => !topicMatches(b, t) || topicMatches(a, t));
        const covers = filterCovers(a, b);
        if (covers !== semantic) expect.fail(`filterCovers(${a}, ${b}) = ${covers}, containment = ${semantic}`);
        if (covers) covering++;
      }
    }
    expect(covering).toBeGreaterThan(filters.length);
  });
});
