import * as api from '@protomesh/bridge';
import { MeshError } from '@protomesh/errors';
import { describe, expect, it } from 'vitest';
import { BRIDGE_ERRORS } from '../../src/errors.js';

describe('bridge error catalogue', () => {
  it('every code is unique, PM_BRIDGE_-prefixed, described and exported', () => {
    const codes = BRIDGE_ERRORS.map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const e of BRIDGE_ERRORS) {
      expect(e.code).toMatch(/^PM_BRIDGE_[A-Z0-9_]+$/);
      expect(e.description.length).toBeGreaterThan(20);
      expect((api as Record<string, unknown>)[e.name]).toBe(e);
    }
  });

  it('errors are MeshErrors with name, code and cause', () => {
    const cause = new Error('root');
    const error = new api.RouteInvalidError('routes[0].id', 'expected an id', { cause });
    expect(error).toBeInstanceOf(MeshError);
    expect(error.name).toBe('RouteInvalidError');
    expect(error.code).toBe('PM_BRIDGE_ROUTE_INVALID');
    expect(error.message).toBe('routes[0].id: expected an id');
    expect(error.cause).toBe(cause);
    expect(api.RouteInvalidError.is(error)).toBe(true);
  });
});
