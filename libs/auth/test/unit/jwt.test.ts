import { execFileSync } from 'node:child_process';
import { KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createJwtVerifier,
  JwksUnavailableError,
  JwtConfigInvalidError,
  type JwtVerifierOptions,
  looksLikeJwt,
  TokenClaimInvalidError,
  TokenExpiredError,
  TokenInvalidError,
} from '@protomesh/auth';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, importPKCS8, type JWK, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!';
const OTHER_SECRET = 'another-secret-that-is-also-long-enough-xxxx';
const nowSec = (): number => Math.floor(Date.now() / 1000);

interface Pair {
  /** A KeyObject so one RSA key can sign RS* and PS* (a CryptoKey is bound to one algorithm). */
  privateKey: KeyObject;
  publicKey: CryptoKey;
  pem: string;
}
async function pair(alg: string, options: { crv?: string } = {}): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...options });
  return { privateKey: KeyObject.from(privateKey), publicKey, pem: await exportSPKI(publicKey) };
}

function sign(
  key: CryptoKey | KeyObject | Uint8Array,
  alg: string,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT({ sub: 'alice', ...claims })
    .setProtectedHeader({ alg, ...header })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(key);
}
const hmac = (secret: string) => new TextEncoder().encode(secret);

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

let rsa: Pair;
let rsa2: Pair;
let ec256: Pair;
let ec384: Pair;
let ed: Pair;
beforeAll(async () => {
  [rsa, rsa2, ec256, ec384, ed] = await Promise.all([
    pair('RS256'),
    pair('RS256'),
    pair('ES256'),
    pair('ES384'),
    pair('EdDSA', { crv: 'Ed25519' }),
  ]);
});

describe('createJwtVerifier with HMAC secrets', () => {
  const verifier = createJwtVerifier({ secret: SECRET });

  it.each(['HS256', 'HS384', 'HS512'])('accepts a valid %s token and reports its identity', async (alg) => {
    const token = await sign(hmac(SECRET), alg, {
      preferred_username: 'alice-user',
      client_id: 'sensor-1',
      mesh: { pub: ['devices/%c/#'], sub: ['alerts/+'] },
    });
    const verified = await verifier.verify(token);
    expect(verified.subject).toBe('alice');
    expect(verified.username).toBe('alice-user');
    expect(verified.clientId).toBe('sensor-1');
    expect(verified.expiresAt).toBeGreaterThan(Date.now());
    expect(verified.expiresAt! % 1000).toBe(0);
    expect(verified.claims.client_id).toBe('sensor-1');
    expect(verified.permissions).toEqual({ publish: ['devices/%c/#'], subscribe: ['alerts/+'] });
  });

  it('falls back to sub for the username; no permissions claim means undefined', async () => {
    const verified = await verifier.verify(await sign(hmac(SECRET), 'HS256'));
    expect(verified.username).toBe('alice');
    expect(verified.permissions).toBeUndefined();
  });

  it('rejects an expired token with PM_AUTH_TOKEN_EXPIRED and its expiry', async () => {
    const exp = nowSec() - 60;
    const token = await new SignJWT({ sub: 'a' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(exp)
      .sign(hmac(SECRET));
    const error = await rejection(verifier.verify(token));
    expect(TokenExpiredError.is(error)).toBe(true);
    expect(error.message).toBe(`token expired at ${new Date(exp * 1000).toISOString()}`);
  });

  it('tolerates clock skew within clockToleranceSec', async () => {
    const token = await new SignJWT({ sub: 'a' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(nowSec() - 2)
      .sign(hmac(SECRET));
    await expect(createJwtVerifier({ secret: SECRET, clockToleranceSec: 30 }).verify(token)).resolves.toBeDefined();
  });

  it('rejects a token signed with another secret, without leaking the secret', async () => {
    const error = await rejection(verifier.verify(await sign(hmac(OTHER_SECRET), 'HS256')));
    expect(TokenInvalidError.is(error)).toBe(true);
    expect(error.message).toBe('invalid token: signature does not verify');
    expect(error.message).not.toContain(SECRET);
  });

  it('accepts every secret of a rotation', async () => {
    const rotating = createJwtVerifier({ secret: [OTHER_SECRET, SECRET] });
    await expect(rotating.verify(await sign(hmac(SECRET), 'HS256'))).resolves.toBeDefined();
    await expect(rotating.verify(await sign(hmac(OTHER_SECRET), 'HS512'))).resolves.toBeDefined();
  });

  it('RFC 8725 §3.1: rejects alg "none"', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'root', exp: nowSec() + 60 })}.`;
    const error = await rejection(verifier.verify(token));
    expect(TokenInvalidError.is(error)).toBe(true);
    expect(error.message).toBe('invalid token: algorithm "none" is not accepted');
  });

  it('rejects malformed tokens', async () => {
    for (const bad of ['', 'abc', 'a.b.c', 'x'.repeat(20_000), `${await sign(hmac(SECRET), 'HS256')}.extra`]) {
      expect(TokenInvalidError.is(await rejection(verifier.verify(bad))), bad.slice(0, 20)).toBe(true);
    }
  });

  it('requires exp when requireExpiry is set', async () => {
    const token = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).sign(hmac(SECRET));
    await expect(verifier.verify(token)).resolves.toMatchObject({ expiresAt: undefined });
    const error = await rejection(createJwtVerifier({ secret: SECRET, requireExpiry: true }).verify(token));
    expect(TokenClaimInvalidError.is(error)).toBe(true);
    expect(error.message).toBe('token claim "exp" rejected: required but missing');
  });

  it('rejects a malformed permissions claim', async () => {
    const error = await rejection(verifier.verify(await sign(hmac(SECRET), 'HS256', { mesh: { pub: 'a/#' } })));
    expect(TokenClaimInvalidError.is(error)).toBe(true);
    expect(error.message).toContain('mesh.pub: must be a list of topic filters');
  });

  it('reads configurable claim names', async () => {
    const custom = createJwtVerifier({
      secret: SECRET,
      usernameClaim: 'name',
      clientIdClaim: 'cid',
      permissionsClaim: 'acl',
    });
    const token = await sign(hmac(SECRET), 'HS256', { name: 'Al', cid: 'c-1', acl: { publish: ['x'], subscribe: [] } });
    await expect(custom.verify(token)).resolves.toMatchObject({
      username: 'Al',
      clientId: 'c-1',
      permissions: { publish: ['x'], subscribe: [] },
    });
  });
});

describe('issuer, audience and nbf', () => {
  const verifier = createJwtVerifier({ secret: SECRET, issuer: 'https://idp.example', audience: ['mesh', 'other'] });

  it('accepts the right issuer and audience', async () => {
    const token = await sign(hmac(SECRET), 'HS256', { iss: 'https://idp.example', aud: 'mesh' });
    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 'alice' });
  });

  it.each([
    [{ iss: 'https://evil.example', aud: 'mesh' }, 'iss'],
    [{ aud: 'mesh' }, 'iss'],
    [{ iss: 'https://idp.example', aud: 'elsewhere' }, 'aud'],
    [{ iss: 'https://idp.example', aud: 'mesh', nbf: nowSec() + 3600 }, 'nbf'],
  ])('rejects %j on claim %s', async (claims, claim) => {
    const error = await rejection(verifier.verify(await sign(hmac(SECRET), 'HS256', claims)));
    expect(TokenClaimInvalidError.is(error)).toBe(true);
    expect(error.message).toContain(`token claim "${claim}" rejected`);
    expect(error.message).not.toContain('idp.example');
  });
});

describe('createJwtVerifier with public keys', () => {
  it.each([
    ['RS256', () => rsa],
    ['RS512', () => rsa],
    ['PS256', () => rsa],
    ['ES256', () => ec256],
    ['ES384', () => ec384],
    ['EdDSA', () => ed],
  ])('accepts a valid %s token', async (alg, keys) => {
    const verifier = createJwtVerifier({ publicKeys: [keys().pem] });
    await expect(verifier.verify(await sign(keys().privateKey, alg))).resolves.toMatchObject({ subject: 'alice' });
  });

  it('rejects a token signed by another key, and tries every key of a rotation', async () => {
    const single = createJwtVerifier({ publicKeys: [rsa.pem] });
    const token = await sign(rsa2.privateKey, 'RS256');
    const error = await rejection(single.verify(token));
    expect(TokenInvalidError.is(error)).toBe(true);
    expect(error.message).toBe('invalid token: signature does not verify');
    const rotating = createJwtVerifier({ publicKeys: [rsa.pem, ec256.pem, rsa2.pem] });
    await expect(rotating.verify(token)).resolves.toBeDefined();
    await expect(rotating.verify(await sign(ec256.privateKey, 'ES256'))).resolves.toBeDefined();
  });

  it('rejects an algorithm no configured key supports', async () => {
    const error = await rejection(
      createJwtVerifier({ publicKeys: [rsa.pem] }).verify(await sign(ec256.privateKey, 'ES256')),
    );
    expect(error.message).toBe('invalid token: algorithm "ES256" is not accepted');
  });

  it('rejects HS256 signed with the public key as secret (algorithm confusion)', async () => {
    const token = await sign(hmac(rsa.pem), 'HS256');
    const error = await rejection(createJwtVerifier({ publicKeys: [rsa.pem] }).verify(token));
    expect(TokenInvalidError.is(error)).toBe(true);
  });

  it('honours an algorithms allow-list', async () => {
    const verifier = createJwtVerifier({ publicKeys: [rsa.pem], algorithms: ['RS256'] });
    await expect(verifier.verify(await sign(rsa.privateKey, 'RS256'))).resolves.toBeDefined();
    expect(TokenInvalidError.is(await rejection(verifier.verify(await sign(rsa.privateKey, 'PS256'))))).toBe(true);
  });

  it('accepts an X.509 certificate (openssl) as the key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pm-jwt-'));
    try {
      const key = join(dir, 'key.pem');
      const cert = join(dir, 'cert.pem');
      execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'ec.pem')], {
        stdio: 'pipe',
      });
      execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', join(dir, 'ec.pem'), '-out', key], {
        stdio: 'pipe',
      });
      execFileSync(
        'openssl',
        ['req', '-new', '-x509', '-key', key, '-out', cert, '-days', '1', '-subj', '/CN=issuer'],
        {
          stdio: 'pipe',
        },
      );
      const privateKey = await importPKCS8(await readFile(key, 'utf8'), 'ES256');
      const verifier = createJwtVerifier({ publicKeys: [await readFile(cert, 'utf8')] });
      await expect(verifier.verify(await sign(privateKey, 'ES256'))).resolves.toMatchObject({ subject: 'alice' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('configuration errors', () => {
  it.each<[JwtVerifierOptions, string]>([
    [{}, '(options): give at least one of secret, publicKeys or jwksUrl'],
    [{ secret: 'short' }, 'secret: must be at least 32 bytes'],
    [{ secret: [SECRET, 'short'] }, 'secret[1]: must be at least 32 bytes'],
    [{ publicKeys: ['not a pem'] }, 'publicKeys[0]: is not a PEM public key'],
    [{ publicKeys: ['-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----'] }, 'publicKeys[0]: is a private key'],
    [{ secret: SECRET, algorithms: ['none'] }, 'algorithms[0]: unknown or unsafe algorithm "none"'],
    [{ secret: SECRET, algorithms: ['RS256'] }, 'algorithms: no listed algorithm fits the configured keys'],
    [{ jwksUrl: 'ftp://keys.example/jwks' }, 'jwksUrl: must be an http: or https: URL'],
    [{ jwksUrl: 'not a url' }, 'jwksUrl: is not a URL'],
  ])('rejects %j', (options, message) => {
    expect(() => createJwtVerifier(options)).toThrow(expect.objectContaining({ code: JwtConfigInvalidError.code }));
    expect(() => createJwtVerifier(options)).toThrow(message);
  });
});

describe('JWKS', () => {
  let server: Server;
  let url: string;
  let keys: JWK[] = [];
  let requests = 0;
  let status = 200;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  afterEach(() => {
    requests = 0;
    status = 200;
  });
  const jwk = async (p: Pair, kid: string, alg: string): Promise<JWK> => ({
    ...(await exportJWK(p.publicKey)),
    kid,
    alg,
  });

  it('caches the key set: a second verify makes no new request', async () => {
    keys = [await jwk(rsa, 'k1', 'RS256')];
    const verifier = createJwtVerifier({ jwksUrl: url });
    const token = await sign(rsa.privateKey, 'RS256', {}, { kid: 'k1' });
    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 'alice' });
    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 'alice' });
    expect(requests).toBe(1);
  });

  it('refetches when a token names a new kid (key rotation)', async () => {
    keys = [await jwk(rsa, 'k1', 'RS256')];
    const verifier = createJwtVerifier({ jwksUrl: url, jwksCooldownMs: 0 });
    await verifier.verify(await sign(rsa.privateKey, 'RS256', {}, { kid: 'k1' }));
    expect(requests).toBe(1);
    keys = [await jwk(rsa, 'k1', 'RS256'), await jwk(ec256, 'k2', 'ES256')];
    await expect(verifier.verify(await sign(ec256.privateKey, 'ES256', {}, { kid: 'k2' }))).resolves.toBeDefined();
    expect(requests).toBe(2);
    await verifier.verify(await sign(ec256.privateKey, 'ES256', {}, { kid: 'k2' }));
    expect(requests).toBe(2);
  });

  it('rejects an unknown kid after one refetch, and does not refetch during the cooldown', async () => {
    keys = [await jwk(rsa, 'k1', 'RS256')];
    const verifier = createJwtVerifier({ jwksUrl: url, jwksCooldownMs: 60_000 });
    await verifier.verify(await sign(rsa.privateKey, 'RS256', {}, { kid: 'k1' }));
    const error = await rejection(verifier.verify(await sign(rsa2.privateKey, 'RS256', {}, { kid: 'nope' })));
    expect(TokenInvalidError.is(error)).toBe(true);
    expect(error.message).toBe('invalid token: no configured key matches the token');
    expect(requests).toBe(1);
  });

  it('tries every matching key when the token has no kid', async () => {
    keys = [await jwk(rsa, 'k1', 'RS256'), await jwk(rsa2, 'k2', 'RS256')];
    const verifier = createJwtVerifier({ jwksUrl: url });
    await expect(verifier.verify(await sign(rsa2.privateKey, 'RS256'))).resolves.toBeDefined();
    const error = await rejection(verifier.verify(await sign((await pair('RS256')).privateKey, 'RS256')));
    expect(error.message).toBe('invalid token: signature does not verify');
  });

  it('reports PM_AUTH_JWKS_UNAVAILABLE for an error status, without leaking the URL', async () => {
    status = 500;
    const error = await rejection(createJwtVerifier({ jwksUrl: url }).verify(await sign(rsa.privateKey, 'RS256')));
    expect(JwksUnavailableError.is(error)).toBe(true);
    expect(error.message).not.toContain('127.0.0.1');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('reports PM_AUTH_JWKS_UNAVAILABLE when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const verifier = createJwtVerifier({ jwksUrl: `http://127.0.0.1:${port}/jwks`, jwksTimeoutMs: 2000 });
    expect(JwksUnavailableError.is(await rejection(verifier.verify(await sign(rsa.privateKey, 'RS256'))))).toBe(true);
  });

  it('uses local public keys before the JWKS', async () => {
    keys = [];
    const verifier = createJwtVerifier({ jwksUrl: url, publicKeys: [ec384.pem] });
    await expect(verifier.verify(await sign(ec384.privateKey, 'ES384'))).resolves.toBeDefined();
    expect(requests).toBe(0);
  });
});

describe('looksLikeJwt', () => {
  it('tells a JWT from a password', async () => {
    expect(looksLikeJwt(await sign(hmac(SECRET), 'HS256'))).toBe(true);
    expect(looksLikeJwt('hunter2')).toBe(false);
    expect(looksLikeJwt('a.b.c')).toBe(false);
  });
});
