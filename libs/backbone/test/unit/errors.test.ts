import { BACKBONE_ERRORS, KvConflictError, NoStreamError } from '@protomesh/backbone';
import { MeshError } from '@protomesh/errors';
import { describe, expect, it } from 'vitest';

describe('backbone error catalogue', () => {
  it('has unique, well-formed, described codes', () => {
    const codes = BACKBONE_ERRORS.map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const error of BACKBONE_ERRORS) {
      expect(error.code).toMatch(/^PM_[A-Z0-9_]+$/);
      expect(error.description.length).toBeGreaterThan(20);
      expect(error.name).toMatch(/Error$/);
    }
  });

  it('builds MeshErrors carrying name, code, message and cause', () => {
    const cause = new Error('wrong last sequence');
    const err = new KvConflictError('SESSIONS', 'client.a', { cause });
    expect(err).toBeInstanceOf(MeshError);
    expect(err).toMatchObject({ name: 'KvConflictError', code: 'PM_KV_CONFLICT', cause });
    expect(err.message).toContain('client.a');
    expect(KvConflictError.is(err)).toBe(true);
    expect(NoStreamError.is(err)).toBe(false);
  });
});
