import { MeshError } from '@protomesh/errors';
import * as api from '@protomesh/topic-map';
import { describe, expect, it } from 'vitest';
import * as catalogue from '../../src/errors.js';

const entries = Object.entries(catalogue);

describe('error catalogue', () => {
  it('has entries', () => {
    expect(entries.length).toBeGreaterThan(0);
  });

  it('every code is unique, PM_-prefixed and documented', () => {
    const codes = entries.map(([, e]) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const [name, e] of entries) {
      expect(e.code, name).toMatch(/^PM_[A-Z0-9_]+$/);
      expect(e.description.length, name).toBeGreaterThan(10);
      expect(e.name, name).toBe(name);
    }
  });

  it('every error is exported by the package', () => {
    for (const [name, e] of entries) {
      expect((api as Record<string, unknown>)[name], name).toBe(e);
    }
  });

  it('errors are MeshErrors carrying name, code, message and cause', () => {
    const cause = new Error('root');
    const error = new catalogue.TopicNameInvalidError('a+b', 'has a wildcard', { cause });
    expect(error).toBeInstanceOf(MeshError);
    expect(error.name).toBe('TopicNameInvalidError');
    expect(error.code).toBe('PM_TOPIC_NAME_INVALID');
    expect(error.message).toBe('invalid topic name "a+b": has a wildcard');
    expect(error.cause).toBe(cause);
    expect(catalogue.TopicNameInvalidError.is(error)).toBe(true);
    expect(catalogue.TopicFilterInvalidError.is(error)).toBe(false);
  });

  it('quotes long values shortened', () => {
    const error = new catalogue.TopicNameInvalidError('x'.repeat(70_000), 'too long');
    expect(error.message.length).toBeLessThan(200);
  });
});
