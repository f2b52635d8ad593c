import * as api from '@protomesh/auth';
import { MeshError } from '@protomesh/errors';
import { describe, expect, it } from 'vitest';
import * as catalogue from '../../src/errors.js';

const entries = Object.entries(catalogue);

describe('error catalogue', () => {
  it('has entries', () => {
    expect(entries.length).toBeGreaterThan(0);
  });

  it('every code is unique, PM_AUTH_-prefixed and documented', () => {
    const codes = entries.map(([, e]) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const [name, e] of entries) {
      expect(e.code, name).toMatch(/^PM_AUTH_[A-Z0-9_]+$/);
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
    const error = new catalogue.TokenInvalidError('malformed', { cause });
    expect(error).toBeInstanceOf(MeshError);
    expect(error.name).toBe('TokenInvalidError');
    expect(error.code).toBe('PM_AUTH_TOKEN_INVALID');
    expect(error.message).toBe('invalid token: malformed');
    expect(error.cause).toBe(cause);
    expect(catalogue.TokenInvalidError.is(error)).toBe(true);
    expect(catalogue.TokenExpiredError.is(error)).toBe(false);
  });

  it('formats expiry times and quotes long values shortened', () => {
    expect(new catalogue.TokenExpiredError(0).message).toBe('token expired at 1970-01-01T00:00:00.000Z');
    expect(new catalogue.UsernameInvalidError('x'.repeat(10_000), 'too long').message.length).toBeLessThan(200);
  });
});
