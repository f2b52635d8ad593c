import { readFileSync } from 'node:fs';
import { CLOSE_CODES as SDK_CLOSE_CODES } from '@protomesh/ws-client';
import { CLOSE, CLOSE_CODES, closeCodeInfo, closeReason, MALFORMED_CODES, WS_ERRORS } from '@protomesh/ws-edge';
import { describe, expect, it } from 'vitest';

const protocolDoc = readFileSync(new URL('../../../../docs/ws-protocol.md', import.meta.url), 'utf8');

/** The rows of the close-code table in docs/ws-protocol.md: code → "reconnect" or "final". */
function documentedCloseCodes(): Map<number, string> {
  const section = protocolDoc.slice(protocolDoc.indexOf('## Close codes'));
  const rows = new Map<number, string>();
  for (const match of section.matchAll(/^\| (\d{4}) \|[^|]*\|[^|]*\| ([^|]*)\|$/gm)) {
    rows.set(Number(match[1]), match[2]!.trim().startsWith('final') ? 'final' : 'reconnect');
  }
  return rows;
}

describe('error catalogue', () => {
  it('has unique, stable PM_WS_ codes, each with a description and a name', () => {
    const codes = WS_ERRORS.map((error) => error.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const error of WS_ERRORS) {
      expect(error.code).toMatch(/^PM_WS_[A-Z_]+$/);
      expect(error.description.length).toBeGreaterThan(20);
      expect(error.name).toMatch(/Error$/);
    }
  });

  it('keeps the codes clients already depend on', () => {
    expect(WS_ERRORS.map((error) => error.code)).toEqual(
      expect.arrayContaining([
        'PM_WS_MALFORMED_FRAME',
        'PM_WS_UNKNOWN_OP',
        'PM_WS_BAD_REQUEST',
        'PM_WS_TOPIC_INVALID',
        'PM_WS_FILTER_INVALID',
        'PM_WS_PUBLISH_FAILED',
        'PM_WS_FRAME_TOO_LARGE',
      ]),
    );
  });

  it('counts exactly malformed frames, unknown ops and bad requests toward the 4400 limit', () => {
    expect([...MALFORMED_CODES].sort()).toEqual(['PM_WS_BAD_REQUEST', 'PM_WS_MALFORMED_FRAME', 'PM_WS_UNKNOWN_OP']);
  });

  it('is documented in docs/ws-protocol.md, code by code', () => {
    for (const error of WS_ERRORS) expect(protocolDoc).toContain(`\`${error.code}\``);
  });
});

describe('close codes (RFC 6455 §7.4)', () => {
  it('has unique codes in the ranges RFC 6455 §7.4.1/§7.4.2 allow a server to send', () => {
    const codes = CLOSE_CODES.map((entry) => entry.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect((code >= 1000 && code <= 1014) || (code >= 4000 && code <= 4999)).toBe(true);
    // 1005 and 1006 must never be sent in a close frame (RFC 6455 §7.4.1).
    expect(codes).not.toContain(1005);
    expect(codes).not.toContain(1006);
  });

  it('says which codes mean reconnect and which are final', () => {
    const reconnect = Object.fromEntries(CLOSE_CODES.map((entry) => [entry.code, entry.reconnect]));
    expect(reconnect).toEqual({
      1000: false,
      1001: true,
      1002: false,
      1007: false,
      1009: false,
      1011: true,
      1012: true,
      4008: true,
      4400: false,
      4401: false,
      4408: true,
    });
    expect(CLOSE.serviceRestart.code).toBe(1012);
    expect(CLOSE.slowConsumer.code).toBe(4008);
    expect(CLOSE.protocolError.code).toBe(4400);
    expect(closeCodeInfo(1009)?.name).toBe('message too big');
    expect(closeCodeInfo(3000)).toBeUndefined();
  });

  it('matches the table in docs/ws-protocol.md, reconnect and final included', () => {
    const documented = documentedCloseCodes();
    expect([...documented.keys()].sort()).toEqual(CLOSE_CODES.map((entry) => entry.code));
    for (const entry of CLOSE_CODES) expect(documented.get(entry.code)).toBe(entry.reconnect ? 'reconnect' : 'final');
  });

  it('equals the table of the client SDK (@protomesh/ws-client), reconnect and final included', () => {
    expect(SDK_CLOSE_CODES.map(({ code, name, reconnect }) => ({ code, name, reconnect }))).toEqual(
      CLOSE_CODES.map(({ code, name, reconnect }) => ({ code, name, reconnect })),
    );
  });

  it('cuts close reasons to 123 bytes without splitting a character (RFC 6455 §5.5)', () => {
    expect(closeReason('short')).toBe('short');
    const long = 'é'.repeat(100); // 200 bytes
    const cut = closeReason(long);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(123);
    expect(cut).toBe('é'.repeat(61));
  });
});
