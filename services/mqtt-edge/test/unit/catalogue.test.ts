import { describe, expect, it } from 'vitest';
import { MQTT_EDGE_ERRORS, Reason } from '../../src/index.js';
import { ConnectReturn, connectReturnFor, describeReason } from '../../src/reason-codes.js';

describe('error catalogue', () => {
  it('has unique, documented PM_MQTT_ codes', () => {
    const codes = MQTT_EDGE_ERRORS.map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const error of MQTT_EDGE_ERRORS) {
      expect(error.code).toMatch(/^PM_MQTT_[A-Z0-9_]+$/);
      expect(error.description.length).toBeGreaterThan(20);
    }
  });

  it('builds errors that carry name, code and cause', () => {
    const cause = new Error('root');
    for (const Err of MQTT_EDGE_ERRORS) {
      const args = ['x', 'y']; // every format takes at most two arguments
      const error = new (Err as unknown as new (...a: unknown[]) => Error & { code: string })(...args, { cause });
      expect(error.code).toBe(Err.code);
      expect(error.name).toBe(Err.name);
      expect(error.cause).toBe(cause);
      expect(Err.is(error)).toBe(true);
    }
  });
});

describe('reason codes', () => {
  it('maps MQTT 5 CONNACK reasons to MQTT 3.1.1 return codes', () => {
    expect(connectReturnFor(Reason.Success)).toBe(ConnectReturn.Accepted);
    expect(connectReturnFor(Reason.UnsupportedProtocolVersion)).toBe(ConnectReturn.UnacceptableProtocolVersion);
    expect(connectReturnFor(Reason.ClientIdentifierNotValid)).toBe(ConnectReturn.IdentifierRejected);
    expect(connectReturnFor(Reason.NotAuthorized)).toBe(ConnectReturn.NotAuthorized);
    expect(connectReturnFor(Reason.TopicNameInvalid)).toBe(ConnectReturn.ServerUnavailable);
  });

  it('has one name per code', () => {
    const values = Object.values(Reason);
    expect(new Set(values).size).toBe(values.length);
    expect(describeReason(Reason.SessionTakenOver)).toBe('0x8e session taken over');
    expect(describeReason(0x42)).toBe('0x42');
  });
});
