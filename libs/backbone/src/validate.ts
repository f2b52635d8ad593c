/**
 * Argument checks shared by both implementations, so a bad subject, name, key or header
 * fails the same way (a catalogued error, synchronously where the contract method is
 * synchronous) whether the backbone is NATS or embedded.
 */
import { isValidSubject, isValidSubjectPattern } from '@protomesh/topic-map';
import type { AppendOptions, ConsumerSpec, HeaderEntries, KvSpec, ReadStreamOptions, StreamSpec } from './contract.js';
import {
  HeaderInvalidError,
  KvKeyInvalidError,
  NameInvalidError,
  SpecInvalidError,
  SubjectInvalidError,
} from './errors.js';

/** Stream, consumer and bucket names: what every NATS release accepts as an API subject token and a file name. */
const NAME = /^[A-Za-z0-9_-]+$/;
/** Longest name, in characters (JetStream stores names as directory names). */
const NAME_MAX_CHARS = 255;
/** NATS KV key characters (the `nats` KV `validKeyRe`). */
const KV_KEY = /^[-/_=.a-zA-Z0-9]+$/;
/** A queue group: any printable ASCII except whitespace (the server splits the SUB line on spaces). */
const QUEUE = /^[!-~]+$/;
/** A header field name: printable ASCII except `:` (RFC 822 §3.1.2, as the NATS clients check). */
const HEADER_NAME = /^[!-9;-~]+$/;
const CR_OR_LF = /[\r\n]/;

/** Subjects recently found valid (publishers reuse a few subjects); cleared when full. */
const validSubjects = new Set<string>();
const VALID_SUBJECT_CACHE_SIZE = 10_000;

/** Throws `SubjectInvalidError` unless `subject` is a plain subject (no wildcards). */
export function assertSubject(subject: string): void {
  if (validSubjects.has(subject)) return;
  if (typeof subject === 'string' && isValidSubject(subject)) {
    if (validSubjects.size >= VALID_SUBJECT_CACHE_SIZE) validSubjects.clear();
    validSubjects.add(subject);
    return;
  }
  throw new SubjectInvalidError(String(subject), subjectProblem(String(subject), false));
}

/** Throws `SubjectInvalidError` unless `pattern` is a valid subject pattern (`*`, `>` allowed). */
export function assertSubjectPattern(pattern: string): void {
  if (typeof pattern === 'string' && isValidSubjectPattern(pattern)) return;
  throw new SubjectInvalidError(String(pattern), subjectProblem(String(pattern), true));
}

function subjectProblem(subject: string, wildcards: boolean): string {
  if (subject === '') return 'empty';
  if (!wildcards && isValidSubjectPattern(subject)) return 'wildcards are not allowed here';
  if (subject.split('.').some((token) => token === '')) return 'empty token';
  return 'whitespace, control character or misplaced wildcard';
}

/** Throws `NameInvalidError` unless `name` is a valid stream, consumer or bucket name. */
export function assertName(kind: 'stream' | 'consumer' | 'bucket', name: string): void {
  if (typeof name === 'string' && NAME.test(name) && name.length <= NAME_MAX_CHARS) return;
  throw new NameInvalidError(kind, String(name), `1–${NAME_MAX_CHARS} characters of [A-Za-z0-9_-]`);
}

/** Throws `NameInvalidError` unless `queue` is a valid queue group name. */
export function assertQueue(queue: string): void {
  if (typeof queue === 'string' && QUEUE.test(queue)) return;
  throw new NameInvalidError('queue group', String(queue), 'printable ASCII without whitespace');
}

/** Throws `KvKeyInvalidError` unless `key` is a valid KV key (see `KvBucket`). */
export function assertKvKey(key: string): void {
  if (typeof key !== 'string' || !KV_KEY.test(key)) {
    throw new KvKeyInvalidError(String(key), 'use characters of [-/_=.a-zA-Z0-9] (see encodeKey)');
  }
  if (key.startsWith('.') || key.endsWith('.')) throw new KvKeyInvalidError(key, 'starts or ends with "."');
  if (key.includes('..')) throw new KvKeyInvalidError(key, 'has an empty token ("..")');
}

/** Throws `KvKeyInvalidError` unless `filter` is a valid key filter: key tokens, `*`, and `>` last. */
export function assertKvFilter(filter: string): void {
  const tokens = typeof filter === 'string' ? filter.split('.') : [''];
  tokens.forEach((token, i) => {
    if (token === '*' || (token === '>' && i === tokens.length - 1)) return;
    if (token === '' || !KV_KEY.test(token)) throw new KvKeyInvalidError(String(filter), 'invalid key filter');
  });
}

/** Frozen header arrays found valid: a publisher resending the same array is not checked again. */
const validHeaders = new WeakSet<HeaderEntries>();

/** Throws `HeaderInvalidError` for a header NATS cannot carry. */
export function assertHeaders(headers: HeaderEntries | undefined): void {
  if (headers === undefined || validHeaders.has(headers)) return;
  for (const [name, value] of headers) {
    if (typeof name !== 'string' || !HEADER_NAME.test(name)) {
      throw new HeaderInvalidError(String(name), 'a name is printable ASCII without ":" or whitespace');
    }
    if (typeof value !== 'string' || CR_OR_LF.test(value)) {
      throw new HeaderInvalidError(name, 'a value is a string without CR or LF');
    }
  }
  if (Object.isFrozen(headers)) validHeaders.add(headers);
}

/**
 * Headers as NATS delivers them, so both implementations hand back the same thing: entries
 * grouped by name (in order of each name's first appearance, values of one name in order),
 * values trimmed of surrounding whitespace; undefined when there are none.
 */
export function normalizeHeaders(headers: HeaderEntries | undefined): HeaderEntries | undefined {
  if (headers === undefined || headers.length === 0) return undefined;
  if (isNormal(headers)) return Object.isFrozen(headers) ? headers : Object.freeze(headers.slice());
  const byName = new Map<string, string[]>();
  for (const [name, value] of headers) {
    let values = byName.get(name);
    if (values === undefined) {
      values = [];
      byName.set(name, values);
    }
    values.push(value.trim());
  }
  const out: (readonly [string, string])[] = [];
  for (const [name, values] of byName) for (const value of values) out.push([name, value] as const);
  return Object.freeze(out);
}

/** True when `headers` are already grouped by name and trimmed (what publishers usually send). */
function isNormal(headers: HeaderEntries): boolean {
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    if (value.length > 0 && (isSpace(value.charCodeAt(0)) || isSpace(value.charCodeAt(value.length - 1)))) return false;
    // A name seen before, not right before: grouping would move this entry.
    if (i > 0 && headers[i - 1]![0] !== name) for (let j = 0; j < i - 1; j++) if (headers[j]![0] === name) return false;
  }
  return true;
}

/** Whitespace `String.prototype.trim` removes, for the ASCII range (anything above: not normal). */
function isSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d) || code > 0x7f;
}

function checkNumber(what: string, field: string, value: number | undefined, min: number, integer: boolean): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new SpecInvalidError(what, `${field} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${value}`);
  }
}

/** Throws a catalogued error unless `spec` is a valid stream definition. */
export function assertStreamSpec(spec: StreamSpec): void {
  assertName('stream', spec.name);
  const what = `stream ${spec.name}`;
  if (!Array.isArray(spec.subjects) || spec.subjects.length === 0) {
    throw new SpecInvalidError(what, 'subjects must list at least one subject');
  }
  for (const subject of spec.subjects) assertSubjectPattern(subject);
  checkNumber(what, 'maxAgeMs', spec.maxAgeMs, 0, false);
  checkNumber(what, 'maxBytes', spec.maxBytes, 1, true);
  checkNumber(what, 'maxMsgs', spec.maxMsgs, 1, true);
  checkNumber(what, 'duplicateWindowMs', spec.duplicateWindowMs, 0, false);
  checkNumber(what, 'replicas', spec.replicas, 1, true);
  if (spec.storage !== undefined && spec.storage !== 'file' && spec.storage !== 'memory') {
    throw new SpecInvalidError(what, `storage must be "file" or "memory", got ${String(spec.storage)}`);
  }
}

/** Throws a catalogued error unless `spec` is a valid consumer definition. */
export function assertConsumerSpec(spec: ConsumerSpec): void {
  assertName('stream', spec.stream);
  if (spec.durable !== undefined) assertName('consumer', spec.durable);
  if (spec.filterSubject !== undefined) assertSubjectPattern(spec.filterSubject);
  const what = `consumer ${spec.durable ?? '(ephemeral)'} on ${spec.stream}`;
  const kind = spec.deliver?.kind;
  if (kind !== 'all' && kind !== 'new' && kind !== 'last-per-subject' && kind !== 'seq') {
    throw new SpecInvalidError(what, 'deliver must be all, new, last-per-subject or seq');
  }
  if (spec.deliver.kind === 'seq') checkNumber(what, 'deliver.seq', spec.deliver.seq, 1, true);
  if (spec.deliver.kind === 'seq' && spec.deliver.seq === undefined) {
    throw new SpecInvalidError(what, 'deliver.seq is required');
  }
  checkNumber(what, 'ackWaitMs', spec.ackWaitMs, 1, false);
  checkNumber(what, 'maxAckPending', spec.maxAckPending, 1, true);
  checkNumber(what, 'maxDeliver', spec.maxDeliver, 1, true);
}

/** Throws a catalogued error unless `spec` is a valid bucket definition. */
export function assertKvSpec(spec: KvSpec): void {
  assertName('bucket', spec.bucket);
  const what = `bucket ${spec.bucket}`;
  checkNumber(what, 'ttlMs', spec.ttlMs, 1, false);
  checkNumber(what, 'replicas', spec.replicas, 1, true);
}

/** Throws a catalogued error unless the append options are valid. */
export function assertAppendOptions(options: AppendOptions): void {
  assertHeaders(options.headers);
  if (options.expectStream !== undefined) assertName('stream', options.expectStream);
  if (options.msgId !== undefined && (typeof options.msgId !== 'string' || options.msgId === '')) {
    throw new SpecInvalidError('append options', 'msgId must be a non-empty string');
  }
  if (options.msgId !== undefined && /[\r\n]/.test(options.msgId)) {
    throw new SpecInvalidError('append options', 'msgId must not contain CR or LF');
  }
  checkNumber('append options', 'timeoutMs', options.timeoutMs, 1, false);
}

/** Throws a catalogued error unless the `readStream` options are valid. */
export function assertReadStreamOptions(stream: string, options: ReadStreamOptions): void {
  assertName('stream', stream);
  if (options.filter !== undefined) assertSubjectPattern(options.filter);
  const what = `readStream ${stream}`;
  if (options.fromSeq === undefined) throw new SpecInvalidError(what, 'fromSeq is required');
  if (options.maxMessages === undefined) throw new SpecInvalidError(what, 'maxMessages is required');
  checkNumber(what, 'fromSeq', options.fromSeq, 1, true);
  checkNumber(what, 'maxMessages', options.maxMessages, 1, true);
}
