import {
  DEFAULT_PREFIX,
  decodeToken,
  encodeLevel,
  filterToSubjects,
  isValidSubject,
  isValidSubjectPattern,
  isValidTopicName,
  MAX_SUBJECT_BYTES,
  type QosClass,
  qosClass,
  SubjectIndex,
  type SubjectSpace,
  streamSubjects,
  subjectMatches,
  subjectToTopic,
  TIERS,
  topicMatches,
  topicToSubject,
  validatePrefix,
} from '@protomesh/topic-map';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const RUNS = 2000;
const mqtt: SubjectSpace = { prefix: DEFAULT_PREFIX, tier: 'mqtt' };
const ws: SubjectSpace = { prefix: 'a.b-c_1', tier: 'ws' };
const CLASSES: readonly QosClass[] = ['0', '1'];

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Generators: levels built from characters that stress the escaping (separators,
// wildcards, the escape character, whitespace and controls, non-ASCII text, emoji), plus
// arbitrary Unicode. Levels may be empty; topics may start with '$'.
const TRICKY = [
  'a',
  'b',
  '$',
  '.',
  '*',
  '>',
  '%',
  '%25',
  ' ',
  '\t',
  '\n',
  '\r',
  '\u000b',
  '\f',
  '\u0001',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u2028',
  '\u3000',
  '\ufeff',
  '\ufffd',
  'é',
  'e\u0301',
  '温度',
  '😀',
  '-',
  '_',
];
const trickyLevel = fc.array(fc.constantFrom(...TRICKY), { maxLength: 4 }).map((parts) => parts.join(''));
const unicodeLevel = fc
  .string({ unit: 'binary', maxLength: 6 })
  .map((s) => s.replaceAll('/', '').replaceAll('+', '').replaceAll('#', '').replaceAll('\u0000', '')); // what a topic level cannot hold
const levelArb = fc.oneof({ weight: 4, arbitrary: trickyLevel }, { weight: 1, arbitrary: unicodeLevel });
const levelsArb = fc
  .tuple(fc.array(levelArb, { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([levels, dollar]) => (dollar ? [`$${levels[0]}`, ...levels.slice(1)] : levels))
  .filter((levels) => levels.join('/').length > 0);
const topicArb = levelsArb.map((levels) => levels.join('/'));
const spaceArb = fc.constantFrom(mqtt, ws);
const clsArb = fc.constantFrom<QosClass>('0', '1');

/** Filters derived from a topic's levels, so that matches are frequent. */
function derivedFilter(levels: readonly string[]): fc.Arbitrary<string> {
  const perLevel = levels.map((level) => fc.constantFrom(level, level, '+', 'x'));
  return fc
    .tuple(
      fc.tuple(...perLevel),
      fc.integer({ min: 0, max: levels.length + 1 }),
      fc.constantFrom('hash', 'cut', 'more', 'keep'),
    )
    .map(([mapped, at, how]) => {
      const out = [...mapped];
      if (how === 'hash') return [...out.slice(0, Math.min(at, out.length)), '#'].join('/');
      if (how === 'cut' && at > 0) return out.slice(0, Math.min(at, out.length)).join('/');
      if (how === 'more') return [...out, at % 2 === 0 ? '+' : ''].join('/');
      return out.join('/');
    })
    .filter((filter) => filter.length > 0);
}
const randomFilter = fc
  .array(fc.oneof(fc.constantFrom('+', '', 'a', '$', '$a', 'a.b', ' '), levelArb), { minLength: 1, maxLength: 4 })
  .chain((levels) => fc.constantFrom(levels.join('/'), [...levels, '#'].join('/'), '#'))
  .filter((filter) => filter.length > 0);
const pairArb = topicArb.chain((topic) =>
  fc.tuple(fc.oneof({ weight: 3, arbitrary: derivedFilter(topic.split('/')) }, randomFilter), fc.constant(topic)),
);

/** Independent reference for MQTT matching over level arrays. */
function referenceTopicMatches(filter: string, topic: string): boolean {
  if ((filter.startsWith('+') || filter.startsWith('#')) && topic.startsWith('$')) return false;
  const go = (f: string[], t: string[]): boolean => {
    if (f.length === 0) return t.length === 0;
    if (f[0] === '#') return true;
    if (t.length === 0) return false;
    if (f[0] !== '+' && f[0] !== t[0]) return false;
    return go(f.slice(1), t.slice(1));
  };
  return go(filter.split('/'), topic.split('/'));
}

function viaSubjects(space: SubjectSpace, filter: string, topic: string, cls: QosClass, classes?: QosClass[]): boolean {
  const subject = topicToSubject(space, topic, cls);
  return filterToSubjects(space, filter, classes ? { classes } : undefined).some((p) => subjectMatches(p, subject));
}

// ---------------------------------------------------------------------------------------

describe('constants', () => {
  it('names the tiers, the default prefix and the subject limit', () => {
    expect(TIERS).toEqual(['mqtt', 'ws']);
    expect(DEFAULT_PREFIX).toBe('mesh');
    expect(MAX_SUBJECT_BYTES).toBe(3_500);
  });

  it('maps QoS to class', () => {
    expect([qosClass(0), qosClass(1), qosClass(2)]).toEqual(['0', '1', '1']);
  });
});

describe('validatePrefix', () => {
  it.each(['mesh', 'a.b', 'A-b_9.c', 't1a2b3c4'])('accepts %j', (prefix) => {
    expect(() => validatePrefix(prefix)).not.toThrow();
  });

  it.each(['', '.', 'a.', '.a', 'a..b', 'a b', 'a*', 'a.>', 'é', 'a/b', '$a'])('rejects %j', (prefix) => {
    expect(codeOf(() => validatePrefix(prefix))).toBe('PM_PREFIX_INVALID');
  });

  it('is checked by every mapping function', () => {
    const bad = { prefix: 'a b', tier: 'mqtt' } as const;
    expect(codeOf(() => topicToSubject(bad, 'a', '0'))).toBe('PM_PREFIX_INVALID');
    expect(codeOf(() => filterToSubjects(bad, 'a'))).toBe('PM_PREFIX_INVALID');
    expect(codeOf(() => streamSubjects(bad))).toBe('PM_PREFIX_INVALID');
  });

  it('tiers and classes are checked at run time too', () => {
    const badTier = { prefix: 'mesh', tier: 'x' } as unknown as SubjectSpace;
    expect(codeOf(() => topicToSubject(badTier, 'a', '0'))).toBe('PM_TIER_INVALID');
    expect(codeOf(() => topicToSubject(mqtt, 'a', '2' as QosClass))).toBe('PM_QOS_CLASS_INVALID');
    expect(codeOf(() => filterToSubjects(mqtt, 'a', { classes: ['2' as QosClass] }))).toBe('PM_QOS_CLASS_INVALID');
  });
});

describe('encodeLevel / decodeToken', () => {
  it.each([
    ['a', 'a'],
    ['', '%'],
    ['.', '%2E'],
    ['*', '%2A'],
    ['>', '%3E'],
    ['%', '%25'],
    ['%25', '%2525'],
    ['a.b', 'a%2Eb'],
    [' ', '%20'],
    ['\t', '%09'],
    ['\n', '%0A'],
    ['\r', '%0D'],
    ['\u000b', '%0B'],
    ['\f', '%0C'],
    ['\u0000', '%00'],
    ['\u007f', '%7F'],
    ['\u0085', '%C2%85'],
    ['\u009f', '%C2%9F'],
    ['\u00a0', '%C2%A0'],
    ['\u1680', '%E1%9A%80'],
    ['\u2028', '%E2%80%A8'],
    ['\u3000', '%E3%80%80'],
    ['\ufeff', '%EF%BB%BF'],
    ['$SYS', '$SYS'],
    ['é', 'é'],
    ['温度', '温度'],
    ['😀', '😀'],
    ['a-b_c~!', 'a-b_c~!'],
    ['100% sure', '100%25%20sure'],
  ])('%j <-> %j', (level, token) => {
    expect(encodeLevel(level)).toBe(token);
    expect(decodeToken(token)).toBe(level);
  });

  it("an empty level is the token '%' alone, which escaping never produces", () => {
    fc.assert(
      fc.property(levelArb, (level) => {
        expect(encodeLevel(level) === '%').toBe(level === '');
      }),
      { numRuns: RUNS },
    );
  });

  it("rejects a level with '/'", () => {
    expect(codeOf(() => encodeLevel('a/b'))).toBe('PM_TOPIC_NAME_INVALID');
  });

  it.each([
    ['', /empty/],
    ['%2e', /uppercase hex/],
    ['%4', /uppercase hex/],
    ['a%', /uppercase hex/],
    ['%%', /uppercase hex/],
    ['%41', /must stay literal/], // 'A' needs no escape
    ['%C3%A9', /must stay literal/], // 'é' needs no escape
    ['%C0%AE', /does not start/], // overlong '.'
    ['%E0%80%AE', /must stay literal/], // overlong '.'
    ['%E3%80', /well-formed/],
    ['%E3%80%41', /well-formed/],
    ['%80', /does not start/],
    ['%F0%9F%98%80', /does not start/],
    ['a/b', /'\/'/],
    ['a b', /must be escaped/],
    ['a\u00a0', /must be escaped/],
    ['\ud800', /lone surrogate/],
  ])('rejects the non-canonical token %j', (token, reason) => {
    expect(codeOf(() => decodeToken(token))).toBe('PM_SUBJECT_TOKEN_INVALID');
    expect(() => decodeToken(token)).toThrowError(reason);
  });

  it('round-trips every level', () => {
    fc.assert(
      fc.property(levelArb, (level) => {
        const token = encodeLevel(level);
        expect(isValidSubject(token)).toBe(true);
        expect(decodeToken(token)).toBe(level);
      }),
      { numRuns: RUNS },
    );
  });

  it('decodes exactly the tokens that encoding produces', () => {
    const tokenArb = fc
      .array(fc.constantFrom('a', '%', '2', 'E', 'e', 'C', '0', 'A', '5', 'é', ' ', '/'), { maxLength: 7 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(tokenArb, (token) => {
        let level: string | undefined;
        try {
          level = decodeToken(token);
        } catch {
          return;
        }
        expect(encodeLevel(level)).toBe(token);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('topicToSubject', () => {
  it.each([
    [mqtt, 'a/b', '0', 'mesh.mqtt.0.a.b'],
    [mqtt, 'a/b', '1', 'mesh.mqtt.1.a.b'],
    [ws, 'a/b', '1', 'a.b-c_1.ws.1.a.b'],
    [mqtt, 'a.b/c', '0', 'mesh.mqtt.0.a%2Eb.c'],
    [mqtt, '/', '0', 'mesh.mqtt.0.%.%'],
    [mqtt, '/a//', '0', 'mesh.mqtt.0.%.a.%.%'],
    [mqtt, 'a b/温度/😀', '1', 'mesh.mqtt.1.a%20b.温度.😀'],
    [mqtt, '*/>/%', '0', 'mesh.mqtt.0.%2A.%3E.%25'],
    [mqtt, 'tab\there', '0', 'mesh.mqtt.0.tab%09here'],
    [mqtt, 'nbsp\u00a0/ideo\u3000', '0', 'mesh.mqtt.0.nbsp%C2%A0.ideo%E3%80%80'],
  ] as const)('%j %j class %s -> %j', (space, topic, cls, subject) => {
    expect(topicToSubject(space, topic, cls)).toBe(subject);
    expect(subjectToTopic(space.prefix, subject)).toEqual({ tier: space.tier, cls, topic });
  });

  it("[MQTT-4.7.2-1] a topic starting with '$' carries the marker in the class token", () => {
    expect(topicToSubject(mqtt, '$SYS/broker', '0')).toBe('mesh.mqtt.$0.$SYS.broker');
    expect(topicToSubject(mqtt, '$', '1')).toBe('mesh.mqtt.$1.$');
    expect(topicToSubject(mqtt, 'a/$b', '1')).toBe('mesh.mqtt.1.a.$b');
  });

  it('rejects invalid topic names', () => {
    for (const topic of ['', 'a/+', '#', 'a\u0000', '\ud800']) {
      expect(codeOf(() => topicToSubject(mqtt, topic, '0'))).toBe('PM_TOPIC_NAME_INVALID');
    }
  });

  it('PM_SUBJECT_TOO_LONG over MAX_SUBJECT_BYTES (UTF-8)', () => {
    const head = 'mesh.mqtt.0.'.length;
    expect(topicToSubject(mqtt, 'a'.repeat(MAX_SUBJECT_BYTES - head), '0')).toHaveLength(MAX_SUBJECT_BYTES);
    expect(codeOf(() => topicToSubject(mqtt, 'a'.repeat(MAX_SUBJECT_BYTES - head + 1), '0'))).toBe(
      'PM_SUBJECT_TOO_LONG',
    );
    // 1,000 characters, but 9 bytes each once escaped.
    expect(codeOf(() => topicToSubject(mqtt, '\u3000'.repeat(400), '0'))).toBe('PM_SUBJECT_TOO_LONG');
    // 1,200 characters of 3 bytes each: 3,600 bytes.
    expect(codeOf(() => topicToSubject(mqtt, '温'.repeat(1_200), '0'))).toBe('PM_SUBJECT_TOO_LONG');
    expect(codeOf(() => filterToSubjects(mqtt, `${'温'.repeat(1_200)}/#`))).toBe('PM_SUBJECT_TOO_LONG');
  });

  it('(a) round-trips every valid topic and class', () => {
    fc.assert(
      fc.property(spaceArb, topicArb, clsArb, (space, topic, cls) => {
        expect(isValidTopicName(topic)).toBe(true);
        const subject = topicToSubject(space, topic, cls);
        expect(subjectToTopic(space.prefix, subject)).toEqual({ tier: space.tier, cls, topic });
      }),
      { numRuns: RUNS },
    );
  });

  it('(b) every encoded subject is a valid NATS subject with one token per level', () => {
    fc.assert(
      fc.property(spaceArb, levelsArb, clsArb, (space, levels, cls) => {
        const subject = topicToSubject(space, levels.join('/'), cls);
        expect(isValidSubject(subject)).toBe(true);
        expect(subject.split('.')).toHaveLength(space.prefix.split('.').length + 2 + levels.length);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('subjectToTopic', () => {
  it.each([
    'mesh2.mqtt.0.a',
    'mes.mqtt.0.a',
    'other.mesh.mqtt.0.a',
    'mesh.mqtt',
    'mesh.mqtt.0',
    'mesh.x.0.a',
    'mesh.mqtt.2.a',
    'mesh.mqtt.*.a',
    'mesh.mqtt.$.a',
    'mesh.mqtt.$0.a', // '$' marker without a '$' topic
    'mesh.mqtt.0.$a', // '$' topic without the marker
    'mesh.mqtt.0.%2e',
    'mesh.mqtt.0.%41',
    'mesh.mqtt.0.a+b',
    'mesh.mqtt.0.#',
    'mesh.mqtt.0.a/b',
    'mesh.mqtt.0.%00',
    'mesh.mqtt.0.a..b',
    'mesh.mqtt.0.a.',
  ])('is undefined for %j', (subject) => {
    expect(subjectToTopic('mesh', subject)).toBeUndefined();
  });

  it('is undefined for an empty prefix', () => {
    expect(subjectToTopic('', '.mqtt.0.a')).toBeUndefined();
  });

  it('honours multi-token prefixes', () => {
    expect(subjectToTopic('a.b', 'a.b.ws.1.x')).toEqual({ tier: 'ws', cls: '1', topic: 'x' });
    expect(subjectToTopic('a', 'a.b.ws.1.x')).toBeUndefined();
  });
});

describe('filterToSubjects', () => {
  it.each([
    ['a/b', ['mesh.mqtt.*.a.b']],
    ['a/+/c', ['mesh.mqtt.*.a.*.c']],
    ['a/#', ['mesh.mqtt.*.a', 'mesh.mqtt.*.a.>']],
    ['a//#', ['mesh.mqtt.*.a.%', 'mesh.mqtt.*.a.%.>']],
    ['a/+/#', ['mesh.mqtt.*.a.>']],
    ['#', ['mesh.mqtt.0.>', 'mesh.mqtt.1.>']],
    ['+', ['mesh.mqtt.0.*', 'mesh.mqtt.1.*']],
    ['+/x', ['mesh.mqtt.0.*.x', 'mesh.mqtt.1.*.x']],
    ['+/#', ['mesh.mqtt.0.>', 'mesh.mqtt.1.>']],
    ['+/+/#', ['mesh.mqtt.0.*.>', 'mesh.mqtt.1.*.>']],
    ['/#', ['mesh.mqtt.*.%', 'mesh.mqtt.*.%.>']],
    ['$SYS/#', ['mesh.mqtt.*.$SYS', 'mesh.mqtt.*.$SYS.>']],
    ['a.b/*/>', ['mesh.mqtt.*.a%2Eb.%2A.%3E']],
  ])('%j -> %j', (filter, subjects) => {
    expect(filterToSubjects(mqtt, filter)).toEqual(subjects);
    for (const s of subjects) expect(isValidSubjectPattern(s)).toBe(true);
  });

  it.each([
    ['a/b', ['mesh.mqtt.1.a.b']],
    ['a/#', ['mesh.mqtt.1.a', 'mesh.mqtt.1.a.>']],
    ['#', ['mesh.mqtt.1.>']],
    ['+/x', ['mesh.mqtt.1.*.x']],
    ['$SYS/+', ['mesh.mqtt.$1.$SYS.*']],
  ])('with classes ["1"], %j -> only JetStream-captured subjects %j', (filter, subjects) => {
    expect(filterToSubjects(mqtt, filter, { classes: ['1'] })).toEqual(subjects);
  });

  it('uses the classes asked for, deduplicated, in a stable order', () => {
    expect(filterToSubjects(mqtt, 'a', { classes: ['0'] })).toEqual(['mesh.mqtt.0.a']);
    expect(filterToSubjects(mqtt, '$a', { classes: ['0'] })).toEqual(['mesh.mqtt.$0.$a']);
    expect(filterToSubjects(mqtt, '#', { classes: ['1', '0', '1'] })).toEqual(['mesh.mqtt.0.>', 'mesh.mqtt.1.>']);
    expect(filterToSubjects(mqtt, 'a', { classes: ['1', '0'] })).toEqual(['mesh.mqtt.*.a']);
    expect(filterToSubjects(mqtt, 'a', { classes: [] })).toEqual([]);
    expect(filterToSubjects(ws, 'a/#')).toEqual(['a.b-c_1.ws.*.a', 'a.b-c_1.ws.*.a.>']);
  });

  it('rejects invalid filters with PM_TOPIC_FILTER_INVALID', () => {
    for (const filter of ['', 'a#', 'a/#/b', 'a+', '\u0000']) {
      expect(codeOf(() => filterToSubjects(mqtt, filter))).toBe('PM_TOPIC_FILTER_INVALID');
    }
  });

  it("[MQTT-4.7.1-1] '#' matches its parent level through the subjects", () => {
    expect(viaSubjects(mqtt, 'a/#', 'a', '0')).toBe(true);
    expect(viaSubjects(mqtt, 'a/#', 'a/', '1')).toBe(true);
    expect(viaSubjects(mqtt, 'a/+/#', 'a/b', '1')).toBe(true);
    expect(viaSubjects(mqtt, 'a/+/#', 'a', '1')).toBe(false);
  });

  it("[MQTT-4.7.1-2] '+' matches an empty level through the subjects", () => {
    expect(viaSubjects(mqtt, 'a/+', 'a/', '0')).toBe(true);
    expect(viaSubjects(mqtt, '+/b', '/b', '1')).toBe(true);
    expect(viaSubjects(mqtt, 'a/+', 'a', '0')).toBe(false);
  });

  it('[MQTT-4.7.2-1] first-level wildcards never match $ topics through the subjects', () => {
    for (const cls of CLASSES) {
      expect(viaSubjects(mqtt, '#', '$SYS/x', cls)).toBe(false);
      expect(viaSubjects(mqtt, '+/x', '$SYS/x', cls)).toBe(false);
      expect(viaSubjects(mqtt, '+/#', '$SYS', cls)).toBe(false);
      expect(viaSubjects(mqtt, '$SYS/#', '$SYS', cls)).toBe(true);
      expect(viaSubjects(mqtt, '$SYS/+', '$SYS/x', cls)).toBe(true);
      expect(viaSubjects(mqtt, 'a/#', 'a/$x', cls)).toBe(true);
    }
  });

  it('topicMatches agrees with an independent reference matcher', () => {
    fc.assert(
      fc.property(pairArb, ([filter, topic]) => {
        expect(topicMatches(filter, topic)).toBe(referenceTopicMatches(filter, topic));
      }),
      { numRuns: RUNS },
    );
  });

  it('(c) topicMatches agrees with subjectMatches over the mapped subjects, for both classes', () => {
    let matched = 0;
    fc.assert(
      fc.property(spaceArb, pairArb, (space, [filter, topic]) => {
        const expected = topicMatches(filter, topic);
        if (expected) matched++;
        for (const cls of CLASSES) {
          expect(viaSubjects(space, filter, topic, cls)).toBe(expected);
          // A JetStream consumer filter sees only class '1'.
          expect(viaSubjects(space, filter, topic, cls, ['1'])).toBe(expected && cls === '1');
          expect(viaSubjects(space, filter, topic, cls, ['0'])).toBe(expected && cls === '0');
        }
      }),
      { numRuns: RUNS },
    );
    expect(matched).toBeGreaterThan(RUNS / 5);
  });

  it('(c) explicitly covers the edge cases', () => {
    fc.assert(
      fc.property(spaceArb, levelsArb, (space, levels) => {
        const topic = levels.join('/');
        const dollar = topic.startsWith('$');
        const cases: [string, boolean][] = [
          [`${topic}/#`, true], // '#' matches its parent
          ['#', !dollar],
          [`+${topic.slice(levels[0]!.length)}`, !dollar],
          [[...levels, '+'].join('/'), false],
          [levels.length > 1 ? [...levels.slice(0, -1), '+'].join('/') : '+', !dollar || levels.length > 1],
        ];
        for (const [filter, expected] of cases) {
          expect(topicMatches(filter, topic), filter).toBe(expected);
          for (const cls of CLASSES) expect(viaSubjects(space, filter, topic, cls), filter).toBe(expected);
        }
        // '+' matches an empty level.
        const withEmpty = `${topic}/`;
        expect(topicMatches(`${topic}/+`, withEmpty)).toBe(true);
        expect(viaSubjects(space, `${topic}/+`, withEmpty, '0')).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('every subscription subject is a valid NATS pattern', () => {
    fc.assert(
      fc.property(spaceArb, pairArb, (space, [filter]) => {
        for (const s of filterToSubjects(space, filter)) expect(isValidSubjectPattern(s)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('class-1 subscription subjects stay inside the stream subjects', () => {
    fc.assert(
      fc.property(spaceArb, pairArb, clsArb, (space, [filter, topic], cls) => {
        const subject = topicToSubject(space, topic, cls);
        const consumer = filterToSubjects(space, filter, { classes: ['1'] }).some((p) => subjectMatches(p, subject));
        const stream = streamSubjects(space).some((p) => subjectMatches(p, subject));
        expect(stream).toBe(cls === '1');
        if (consumer) expect(stream).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('a SubjectIndex of subscription subjects fans out exactly like topicMatches', () => {
    fc.assert(
      fc.property(
        spaceArb,
        topicArb.chain((topic) =>
          fc.tuple(
            fc.constant(topic),
            fc.array(fc.oneof(derivedFilter(topic.split('/')), randomFilter), { minLength: 1, maxLength: 8 }),
          ),
        ),
        clsArb,
        (space, [topic, filters], cls) => {
          const index = new SubjectIndex<number>();
          filters.forEach((filter, i) => {
            for (const s of filterToSubjects(space, filter)) index.add(s, i);
          });
          const got = [...new Set(index.match(topicToSubject(space, topic, cls)))].sort((a, b) => a - b);
          const want = filters.flatMap((filter, i) => (topicMatches(filter, topic) ? [i] : []));
          expect(got).toEqual(want);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('streamSubjects', () => {
  it("captures class '1' in both the plain and the '$' form", () => {
    expect(streamSubjects(mqtt)).toEqual(['mesh.mqtt.1.>', 'mesh.mqtt.$1.>']);
    expect(streamSubjects(ws)).toEqual(['a.b-c_1.ws.1.>', 'a.b-c_1.ws.$1.>']);
  });
});
