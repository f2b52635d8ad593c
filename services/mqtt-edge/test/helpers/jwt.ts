import { createHmac } from 'node:crypto';

/** An HS256 JWT (RFC 7519) signed with `secret`, made with node:crypto only. */
export function signHs256(secret: string, claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/** Seconds since the epoch, as JWT times are. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
