import { capture, compileTemplate, parseCaptureFilter, renderTemplate } from '@protomesh/bridge';
import { describe, expect, it } from 'vitest';

function render(filter: string, template: string, topic: string): string | undefined {
  const f = parseCaptureFilter(filter);
  if (typeof f === 'string') throw new Error(f);
  const t = compileTemplate(template, f);
  if (typeof t === 'string') throw new Error(t);
  const c = capture(f, topic);
  return c && renderTemplate(t, c);
}

describe('filters with captures and topic templates', () => {
  it('positional captures {1}, {2} count every wildcard left to right', () => {
    expect(render('sensors/+/+/temp', 'devices/{2}/{1}/t', 'sensors/hall/s7/temp')).toBe('devices/s7/hall/t');
  });

  it('named captures: +name and #name', () => {
    expect(render('sensors/+id/temp', 'devices/{id}/temperature', 'sensors/s7/temp')).toBe('devices/s7/temperature');
    expect(render('site/+site/#rest', '{site}/{rest}', 'site/berlin/a/b')).toBe('berlin/a/b');
    // A named capture is also positional.
    expect(render('sensors/+id/temp', 'x/{1}', 'sensors/s7/temp')).toBe('x/s7');
  });

  it('{#} is what # matched; when it matched the parent only, the slash before it goes too', () => {
    expect(render('a/#', 'b/{#}', 'a/x/y')).toBe('b/x/y');
    expect(render('a/#', 'b/{#}', 'a')).toBe('b');
    expect(render('a/#', '{#}/suffix', 'a')).toBe('suffix');
    expect(render('#', 'mirror/{#}', 'x/y')).toBe('mirror/x/y');
  });

  it('a capture may be part of a level; empty levels survive', () => {
    expect(render('d/+id', 'dev-{id}/state', 'd/7')).toBe('dev-7/state');
    expect(render('d/+/x', 'e/{1}/y', 'd//x')).toBe('e//y');
  });

  it('a topic that does not match captures nothing', () => {
    expect(render('a/+', 'b/{1}', 'a/b/c')).toBeUndefined();
    expect(render('a/+', 'b/{1}', 'x/b')).toBeUndefined();
  });

  it('rejects malformed capture filters and templates', () => {
    expect(parseCaptureFilter('a/+x+y')).toMatch(/capture name/);
    expect(parseCaptureFilter('a/+id/+id')).toMatch(/used twice/);
    expect(parseCaptureFilter('a/#x/b')).toMatch(/expected an MQTT topic filter/);
    const f = parseCaptureFilter('a/+')!;
    if (typeof f === 'string') throw new Error(f);
    expect(compileTemplate('b/{1', f)).toMatch(/unbalanced/);
    expect(compileTemplate('', f)).toMatch(/non-empty/);
  });
});
