import { createHmac, createSign, type KeyObject } from 'node:crypto';

/** An HMAC secret of 32+ bytes (RFC 7518 §3.2). */
export const SECRET = 'test-secret-that-is-at-least-32-bytes-long';

function base64url(value: Buffer | string): string {
  return Buffer.from(value).toString('base64url');
}

/** Claims with `exp` `seconds` from now. */
export function claims(extra: Record<string, unknown> = {}, seconds = 300): Record<string, unknown> {
  return { sub: 'alice', exp: Math.floor(Date.now() / 1000) + seconds, ...extra };
}

/** A JWT signed HS256 with `secret` (RFC 7519, built by hand: the test needs no JOSE library). */
export function hs256(payload: Record<string, unknown>, secret = SECRET): string {
  const signingInput = `${base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${base64url(JSON.stringify(payload))}`;
  return `${signingInput}.${base64url(createHmac('sha256', secret).update(signingInput).digest())}`;
}

/** A JWT signed RS256 or ES256 with a private key (ES256 signatures in JOSE form, RFC 7518 §3.4). */
export function signed(alg: 'RS256' | 'ES256', key: KeyObject, payload: Record<string, unknown>, kid?: string): string {
  const header = kid === undefined ? { alg, typ: 'JWT' } : { alg, typ: 'JWT', kid };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  const signer = createSign('sha256').update(signingInput);
  const signature = alg === 'ES256' ? signer.sign({ key, dsaEncoding: 'ieee-p1363' }) : signer.sign(key);
  return `${signingInput}.${base64url(signature)}`;
}
