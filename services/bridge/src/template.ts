/**
 * Route filters with captures and target topic templates.
 *
 * A route filter is an MQTT topic filter whose wildcards may be named: a level `+name` is a
 * `+` that captures as `{name}`, a last level `#name` is a `#` that captures as `{name}`.
 * Every wildcard also captures by position, counting from 1 left to right (`{1}`, `{2}`…),
 * and the `#` capture is `{#}` as well. A template is a topic name with `{…}` references;
 * a `{#}` (or the named `#`) that captured nothing (`a/#` matching `a`) takes one adjacent
 * `/` with it, so `x/{#}` renders `x` for the topic `a`.
 */
import { isValidTopicFilter } from '@protomesh/topic-map';

/** Names of named captures: an identifier, so `+1` stays a literal-looking mistake we reject. */
const CAPTURE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One level of a compiled filter. */
type FilterLevel =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'one'; readonly name: string | undefined }
  | { readonly kind: 'rest'; readonly name: string | undefined };

/** A route filter split into its plain MQTT filter and its capture levels. */
export interface CaptureFilter {
  /** The MQTT filter with capture names removed (`sensors/+id/temp` → `sensors/+/temp`). */
  readonly mqttFilter: string;
  /** Capture names by position (index 0 = `{1}`); undefined for an unnamed wildcard. */
  readonly captureNames: readonly (string | undefined)[];
  /** True when the filter ends with a `#` level. */
  readonly hasRest: boolean;
  readonly levels: readonly FilterLevel[];
}

/** Values captured from one topic: positional (index 0 = `{1}`), named, and `{#}`. */
export interface Captures {
  readonly positional: readonly string[];
  readonly named: Readonly<Record<string, string>>;
  /** What `#` matched (undefined without `#`; '' when it matched the parent level only). */
  readonly rest: string | undefined;
}

/** Parses a route filter; returns a problem description instead of throwing. */
export function parseCaptureFilter(filter: string): CaptureFilter | string {
  if (typeof filter !== 'string' || filter.length === 0) return 'expected a non-empty MQTT topic filter';
  const levels: FilterLevel[] = [];
  const captureNames: (string | undefined)[] = [];
  const seen = new Set<string>();
  const plain: string[] = [];
  const raw = filter.split('/');
  for (const [i, level] of raw.entries()) {
    const head = level.charAt(0);
    if ((head === '+' || head === '#') && level.length > 1) {
      const name = level.slice(1);
      if (!CAPTURE_NAME.test(name)) {
        return `capture name ${JSON.stringify(name)} in level ${i + 1} must be a letter or _ followed by letters, digits or _`;
      }
      if (seen.has(name)) return `capture name ${JSON.stringify(name)} is used twice`;
      seen.add(name);
      levels.push(head === '+' ? { kind: 'one', name } : { kind: 'rest', name });
      captureNames.push(name);
      plain.push(head);
    } else if (level === '+' || level === '#') {
      levels.push(level === '+' ? { kind: 'one', name: undefined } : { kind: 'rest', name: undefined });
      captureNames.push(undefined);
      plain.push(level);
    } else {
      levels.push({ kind: 'literal', text: level });
      plain.push(level);
    }
  }
  const mqttFilter = plain.join('/');
  if (!isValidTopicFilter(mqttFilter)) {
    return 'expected an MQTT topic filter (`+` and `#` fill a whole level, `#` only last; `+name`/`#name` capture)';
  }
  return { mqttFilter, captureNames, hasRest: raw[raw.length - 1]!.startsWith('#'), levels };
}

/**
 * The captures of `topic` under `filter`, or undefined when it does not match. The caller
 * has already checked the match with `topicMatches` on the plain filter (or relies on this).
 */
export function capture(filter: CaptureFilter, topic: string): Captures | undefined {
  const parts = topic.split('/');
  const positional: string[] = [];
  const named: Record<string, string> = {};
  let rest: string | undefined;
  const { levels } = filter;
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.kind === 'rest') {
      rest = parts.slice(i).join('/');
      positional.push(rest);
      if (level.name) named[level.name] = rest;
      return { positional, named, rest };
    }
    const part = parts[i];
    if (part === undefined) return undefined;
    if (level.kind === 'literal') {
      if (part !== level.text) return undefined;
    } else {
      positional.push(part);
      if (level.name) named[level.name] = part;
    }
  }
  if (parts.length !== levels.length) return undefined;
  return { positional, named, rest };
}

/** One piece of a compiled template. */
type TemplatePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'ref'; readonly index: number; readonly rest: boolean };

/** A topic template compiled against a filter's captures. */
export interface TopicTemplate {
  readonly source: string;
  readonly parts: readonly TemplatePart[];
}

/**
 * Compiles `template` against `filter`; returns a problem description for an unknown
 * reference, a wildcard character, or a `{#}` without a `#` in the filter.
 */
export function compileTemplate(template: string, filter: CaptureFilter): TopicTemplate | string {
  if (typeof template !== 'string' || template.length === 0) return 'expected a non-empty topic template';
  const parts: TemplatePart[] = [];
  const re = /\{([^{}]*)\}/g;
  let last = 0;
  for (let match = re.exec(template); match !== null; match = re.exec(template)) {
    if (match.index > last) parts.push({ kind: 'text', text: template.slice(last, match.index) });
    const ref = match[1]!;
    let index: number;
    if (ref === '#') {
      if (!filter.hasRest) return 'uses {#} but the source filter has no # level';
      index = filter.captureNames.length - 1;
    } else if (/^[1-9][0-9]*$/.test(ref)) {
      index = Number(ref) - 1;
      if (index >= filter.captureNames.length) {
        return `uses {${ref}} but the source filter has ${filter.captureNames.length} wildcard${filter.captureNames.length === 1 ? '' : 's'}`;
      }
    } else {
      index = filter.captureNames.indexOf(ref);
      if (index === -1) return `uses {${ref}} but the source filter has no capture named ${JSON.stringify(ref)}`;
    }
    const rest = filter.hasRest && index === filter.captureNames.length - 1;
    parts.push({ kind: 'ref', index, rest });
    last = match.index + match[0].length;
  }
  if (last < template.length) parts.push({ kind: 'text', text: template.slice(last) });
  for (const part of parts) {
    if (part.kind !== 'text') continue;
    if (/[{}]/.test(part.text)) return 'has an unbalanced { or }';
    if (/[+#]/.test(part.text) || part.text.includes('\u0000'))
      return 'must not contain +, # or NUL outside {…} references';
  }
  return { source: template, parts };
}

/** Renders a template with the captures of one topic (validity of the result is checked by the caller). */
export function renderTemplate(template: TopicTemplate, captures: Captures): string {
  let out = '';
  let dropSlash = false;
  for (const part of template.parts) {
    if (part.kind === 'text') {
      // A `/` right after an empty `#` capture goes with it.
      out += dropSlash && part.text.startsWith('/') ? part.text.slice(1) : part.text;
      dropSlash = false;
      continue;
    }
    const value = captures.positional[part.index] ?? '';
    if (part.rest && value === '') {
      if (out.endsWith('/')) out = out.slice(0, -1);
      else dropSlash = true;
      continue;
    }
    dropSlash = false;
    out += value;
  }
  return out;
}

/**
 * A plain MQTT filter covering every topic a template can render from `filter`'s captures:
 * a level holding a single-level capture becomes `+`, a `#` capture becomes `#`. Used to
 * find routes that could feed each other. Conservative: it may cover more than the template
 * can produce, never less.
 */
export function templateCoverage(template: TopicTemplate): string {
  // Render with marker characters that cannot occur in topics, then map levels.
  const ONE = '\u0001';
  const REST = '\u0002';
  let text = '';
  for (const part of template.parts) text += part.kind === 'text' ? part.text : part.rest ? REST : ONE;
  const levels = text.split('/');
  const out: string[] = [];
  for (const [i, level] of levels.entries()) {
    if (level.includes(REST)) {
      // `#` can also match nothing: `x/{#}` covers `x` and everything below (`x/#`).
      out.push('#');
      return i === 0 ? '#' : out.join('/');
    }
    out.push(level.includes(ONE) ? '+' : level);
  }
  return out.join('/');
}

/** True when some topic matches both MQTT filters (levels compared one by one; `#` covers the rest). */
export function filtersOverlap(a: string, b: string): boolean {
  const la = a.split('/');
  const lb = b.split('/');
  for (let i = 0; ; i++) {
    const x = la[i];
    const y = lb[i];
    if (x === '#' || y === '#') return true;
    if (x === undefined || y === undefined) return x === y;
    if (x !== '+' && y !== '+' && x !== y) return false;
  }
}
