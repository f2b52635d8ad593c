import { isValidSubject, isValidSubjectPattern, SubjectIndex, subjectMatches } from '@protomesh/topic-map';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const RUNS = 2000;

/** Reference matcher, written independently of the implementation: a regex per pattern. */
function referenceMatches(pattern: string, subject: string): boolean {
  const quoteRegex = (t: string) => t.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
  const parts = pattern.split('.');
  let source = '';
  parts.forEach((t, i) => {
    const sep = i === 0 ? '' : '\\.';
    if (t === '>') source += `${sep}[^.]+(?:\\.[^.]+)*`;
    else if (t === '*') source += `${sep}[^.]+`;
    else source += sep + quoteRegex(t);
  });
  return new RegExp(`^${source}$`, 'u').test(subject);
}

// Small alphabets so that generated patterns and subjects meet often.
const literalToken = fc.constantFrom('a', 'b', 'ab', 'é', '温度', '😀', '%', '%2E', '$0');
const subjectArb = fc.array(literalToken, { minLength: 1, maxLength: 5 }).map((t) => t.join('.'));
const patternArb = fc
  .tuple(fc.array(fc.oneof(literalToken, fc.constant('*')), { minLength: 0, maxLength: 5 }), fc.boolean())
  .filter(([tokens, full]) => tokens.length > 0 || full)
  .map(([tokens, full]) => (full ? [...tokens, '>'] : tokens).join('.'));

describe('isValidSubject', () => {
  it.each(['a', 'a.b', 'mesh.mqtt.0.x', '温度.é', 'a-b_c', '%25', '$0', 'a+b', 'a#'])('accepts %j', (s) => {
    expect(isValidSubject(s)).toBe(true);
  });

  it.each([
    '',
    '.',
    '.a',
    'a.',
    'a..b',
    'a b',
    'a\tb',
    'a\rb',
    'a\nb',
    'a\fb',
    'a\vb',
    'a\u0000b',
    'a\u007fb',
    'a\u0085b',
    'a\u00a0b',
    'a\u2028b',
    'a\u3000b',
    'a\ufeffb',
    '*',
    'a.*',
    '>',
    'a.>',
    'a*',
    'a>b',
    'a\ud800',
    '\udc00a',
  ])('rejects %j', (s) => {
    expect(isValidSubject(s)).toBe(false);
  });
});

describe('isValidSubjectPattern', () => {
  it.each(['a', '*', '>', 'a.*', 'a.>', '*.*.>', 'a.*.b'])('accepts %j', (s) => {
    expect(isValidSubjectPattern(s)).toBe(true);
  });

  it.each(['', 'a.', '.a', 'a..>', '>.a', 'a.>.b', '**', 'a*', '*a', 'a.b>', '>>', 'a .b', 'a.\t'])(
    'rejects %j',
    (s) => {
      expect(isValidSubjectPattern(s)).toBe(false);
    },
  );

  it('every valid subject is a valid pattern', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 12 }), (s) => {
        if (isValidSubject(s)) expect(isValidSubjectPattern(s)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('subjectMatches', () => {
  it.each([
    ['a', 'a', true],
    ['a', 'b', false],
    ['a', 'a.b', false],
    ['a.b', 'a', false],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['a.*', 'a', false],
    ['a.*', 'a.b', true],
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.b.d', false],
    ['>', 'a', true],
    ['>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['a.>', 'a.b', true],
    ['a.>', 'a.b.c', true],
    ['a.>', 'ab.c', false],
    ['ab', 'a', false],
    ['a', 'ab', false],
    ['*.>', 'a', false],
    ['*.>', 'a.b', true],
  ])('%j matches %j: %j', (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });

  it('agrees with a regex reference matcher', () => {
    fc.assert(
      fc.property(patternArb, subjectArb, (pattern, subject) => {
        expect(subjectMatches(pattern, subject)).toBe(referenceMatches(pattern, subject));
      }),
      { numRuns: RUNS },
    );
  });

  it('a subject used as a pattern matches exactly itself', () => {
    fc.assert(
      fc.property(subjectArb, subjectArb, (a, b) => {
        expect(subjectMatches(a, a)).toBe(true);
        expect(subjectMatches(a, b)).toBe(a === b);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('SubjectIndex', () => {
  it('matches literal, * and > patterns', () => {
    const index = new SubjectIndex<string>();
    index.add('a.b', 'lit');
    index.add('a.*', 'star');
    index.add('a.>', 'full');
    index.add('>', 'all');
    index.add('b.*', 'other');
    expect(index.size).toBe(5);
    expect(index.match('a.b').sort()).toEqual(['all', 'full', 'lit', 'star']);
    expect(index.match('a.c').sort()).toEqual(['all', 'full', 'star']);
    expect(index.match('a.b.c').sort()).toEqual(['all', 'full']);
    expect(index.match('a').sort()).toEqual(['all']);
    expect(index.match('c')).toEqual(['all']);
  });

  it('returns a value once per pattern it was added under', () => {
    const index = new SubjectIndex<string>();
    expect(index.add('a.*', 'v')).toBe(true);
    expect(index.add('a.*', 'v')).toBe(false);
    expect(index.add('a.b', 'v')).toBe(true);
    expect(index.add('a.>', 'v')).toBe(true);
    expect(index.size).toBe(3);
    expect(index.match('a.b')).toEqual(['v', 'v', 'v']);
    expect(index.match('a.c')).toEqual(['v', 'v']);
  });

  it('removes pairs and prunes empty branches', () => {
    const index = new SubjectIndex<number>();
    index.add('a.b.c', 1);
    index.add('a.b.c', 2);
    index.add('a.>', 3);
    expect(index.remove('a.b.c', 1)).toBe(true);
    expect(index.remove('a.b.c', 1)).toBe(false);
    expect(index.remove('a.b', 2)).toBe(false);
    expect(index.remove('x.y', 2)).toBe(false);
    expect(index.remove('a.*.c', 2)).toBe(false);
    expect(index.remove('not valid', 2)).toBe(false);
    expect(index.match('a.b.c').sort()).toEqual([2, 3]);
    expect(index.remove('a.b.c', 2)).toBe(true);
    expect(index.remove('a.>', 3)).toBe(true);
    expect(index.size).toBe(0);
    expect(index.match('a.b.c')).toEqual([]);
    index.add('a.b.c', 4);
    expect(index.match('a.b.c')).toEqual([4]);
  });

  it('rejects invalid patterns with PM_SUBJECT_PATTERN_INVALID', () => {
    const index = new SubjectIndex<number>();
    for (const bad of ['', 'a..b', 'a.>.b', 'a b', 'a*']) {
      expect(() => index.add(bad, 1)).toThrowError(expect.objectContaining({ code: 'PM_SUBJECT_PATTERN_INVALID' }));
    }
    expect(index.size).toBe(0);
  });

  it('agrees with a brute-force filter of subjectMatches, through adds and removes', () => {
    const op = fc.record({ add: fc.boolean(), pattern: patternArb, value: fc.integer({ min: 0, max: 3 }) });
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 30 }),
        fc.array(subjectArb, { minLength: 1, maxLength: 5 }),
        (ops, subjects) => {
          const index = new SubjectIndex<number>();
          const pairs = new Map<string, [string, number]>();
          for (const { add, pattern, value } of ops) {
            const key = `${pattern}\u0000${value}`;
            if (add) {
              expect(index.add(pattern, value)).toBe(!pairs.has(key));
              pairs.set(key, [pattern, value]);
            } else {
              expect(index.remove(pattern, value)).toBe(pairs.delete(key));
            }
          }
          expect(index.size).toBe(pairs.size);
          for (const subject of subjects) {
            const expected = [...pairs.values()].filter(([p]) => subjectMatches(p, subject)).map(([, v]) => v);
            expect(index.match(subject).sort()).toEqual(expected.sort());
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
