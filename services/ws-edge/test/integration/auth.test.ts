// Authentication and authorization on ws-edge with @protomesh/auth: JWT (HS, RS, ES, JWKS)
// from the Authorization header, the token query parameter or the connect frame; per-topic
// permissions from claims; refresh over the open connection; the Origin allow-list.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsServerHandle, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { ProtomeshClient } from '@protomesh/ws-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Replicas } from '../support/replicas.js';
import { claims, hs256, SECRET, signed } from '../support/tokens.js';

let nats: NatsServerHandle;
let replicas: Replicas;
const dir = mkdtempSync(join(tmpdir(), 'ws-auth-'));
const sdkClients: ProtomeshClient[] = [];
let jwksServer: Server | undefined;

beforeAll(async () => {
  nats = await startNatsServer();
  replicas = new Replicas(nats.url);
});

afterEach(async () => {
  await Promise.all(sdkClients.splice(0).map((client) => client.close()));
  await replicas.close();
  await new Promise((resolve) => (jwksServer ? jwksServer.close(resolve) : resolve(undefined)));
  jwksServer = undefined;
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await nats?.stop();
});

/** Two replicas that require a token (anonymous off, the NATS default). */
async function securedPair(env: Record<string, string> = {}) {
  const prefix = uniqueName();
  const settings = { WS_ALLOW_ANONYMOUS: '', WS_JWT_SECRET: SECRET, ...env };
  return [await replicas.start(prefix, settings), await replicas.start(prefix, settings)] as const;
}

describe('anonymous access', () => {
  it('is off by default on NATS: the first frame must be connect with a token, else 4401', async () => {
    const [a] = await securedPair();
    const client = await replicas.client(a);
    client.send({ op: 'sub', id: 1, filter: '#' });
    expect(await client.next()).toMatchObject({ op: 'error', id: 1, code: 'PM_WS_UNAUTHORIZED' });
    const closed = await client.closed;
    expect(closed.code).toBe(4401);
    expect(closed.reason).toContain('PM_WS_UNAUTHORIZED');
  });

  it('closes a client that sends nothing within WS_AUTH_TIMEOUT with 4401', async () => {
    const [a] = await securedPair({ WS_AUTH_TIMEOUT: '200ms' });
    const silent = await replicas.client(a);
    expect((await silent.closed).code).toBe(4401);
  });

  it('is on when WS_ALLOW_ANONYMOUS=true', async () => {
    const mesh = await replicas.start(uniqueName(), { WS_ALLOW_ANONYMOUS: 'true' });
    const client = await replicas.client(mesh);
    expect(await client.request({ op: 'sub', id: 1, filter: '#' })).toMatchObject({ op: 'ok' });
  });
});

describe('JWT', () => {
  const chat = { mesh: { pub: ['chat/%u/#'], sub: ['chat/#'] }, preferred_username: 'alice' };

  it('accepts a token from the Authorization header, the token query parameter or the connect frame', async () => {
    const [a, b] = await securedPair();
    const token = hs256(claims(chat));
    const viaHeader = await replicas.client(a, 'protomesh.v1', { authorization: `Bearer ${token}` });
    expect(await viaHeader.request({ op: 'sub', id: 1, filter: 'chat/#' })).toMatchObject({ op: 'ok' });
    const viaQuery = await replicas.client(`${replicas.url(b)}?token=${token}`);
    expect(await viaQuery.request({ op: 'ping', id: 1 })).toEqual({ op: 'pong', id: 1 });
    const viaFrame = await replicas.client(b);
    viaFrame.send({ op: 'connect', id: 'c', token, client: 'web-1' });
    viaFrame.send({ op: 'pub', id: 'p', topic: 'chat/alice/room', qos: 1, text: 'hi' }); // held until verified
    expect(await viaFrame.next()).toMatchObject({ op: 'ok', id: 'c', principal: 'alice', client: 'web-1' });
    expect(await viaFrame.next()).toMatchObject({ op: 'ok', id: 'p', seq: expect.any(Number) });
    expect(await viaHeader.nextMsg()).toMatchObject({ topic: 'chat/alice/room', text: 'hi' });
  });

  it('enforces per-topic publish and subscribe permissions from the claims', async () => {
    const [a] = await securedPair();
    const client = await replicas.client(a, 'protomesh.v1', { authorization: `Bearer ${hs256(claims(chat))}` });
    expect(await client.request({ op: 'pub', id: 1, topic: 'chat/alice/x', text: 'mine' })).toMatchObject({ op: 'ok' });
    expect(await client.request({ op: 'pub', id: 2, topic: 'chat/bob/x', text: 'not mine' })).toMatchObject({
      op: 'error',
      code: 'PM_WS_FORBIDDEN',
    });
    expect(await client.request({ op: 'sub', id: 3, filter: 'chat/+/x' })).toMatchObject({ op: 'ok' });
    expect(await client.request({ op: 'sub', id: 4, filter: '#' })).toMatchObject({ code: 'PM_WS_FORBIDDEN' });
    expect(await client.request({ op: 'sub', id: 5, filter: 'admin/#' })).toMatchObject({ code: 'PM_WS_FORBIDDEN' });
    // A token without permission claims may do everything.
    const open = await replicas.client(a, 'protomesh.v1', { authorization: `Bearer ${hs256(claims())}` });
    expect(await open.request({ op: 'sub', id: 1, filter: '#' })).toMatchObject({ op: 'ok' });
  });

  it('closes with 4401 for a bad signature, an expired token or a token for another issuer', async () => {
    const [a] = await securedPair({ WS_JWT_ISSUER: 'https://issuer.example' });
    for (const token of [
      hs256(claims({ iss: 'https://issuer.example' }), 'another-secret-that-is-32-bytes-long!!'),
      hs256(claims({ iss: 'https://issuer.example' }, -60)),
      hs256(claims({ iss: 'https://other.example' })),
    ]) {
      const client = await replicas.client(a, 'protomesh.v1', { authorization: `Bearer ${token}` });
      const closed = await client.closed;
      expect(closed.code).toBe(4401);
      expect(closed.reason).toMatch(/^PM_WS_UNAUTHORIZED: /);
    }
    const good = await replicas.client(a, 'protomesh.v1', {
      authorization: `Bearer ${hs256(claims({ iss: 'https://issuer.example' }))}`,
    });
    expect(await good.request({ op: 'ping', id: 1 })).toEqual({ op: 'pong', id: 1 });
  });

  it('verifies RS256 with a PEM public key and ES256 keys from a JWKS URL (fetched once, cached)', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = join(dir, 'rsa.pem');
    writeFileSync(pem, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    let fetches = 0;
    jwksServer = createServer((_request, response) => {
      fetches += 1;
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }] }),
      );
    });
    await new Promise<void>((resolve) => jwksServer!.listen(0, '127.0.0.1', resolve));
    const port = (jwksServer.address() as { port: number }).port;
    const rsaMesh = await replicas.start(uniqueName(), { WS_ALLOW_ANONYMOUS: 'false', WS_JWT_PUBLIC_KEY_FILE: pem });
    const rs = await replicas.client(rsaMesh, 'protomesh.v1', {
      authorization: `Bearer ${signed('RS256', rsa.privateKey, claims())}`,
    });
    expect(await rs.request({ op: 'ping', id: 1 })).toEqual({ op: 'pong', id: 1 });

    const jwksMesh = await replicas.start(uniqueName(), {
      WS_ALLOW_ANONYMOUS: 'false',
      WS_JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
    });
    for (let i = 0; i < 3; i++) {
      const es = await replicas.client(jwksMesh, 'protomesh.v1', {
        authorization: `Bearer ${signed('ES256', ec.privateKey, claims({ sub: `user-${i}` }), 'k1')}`,
      });
      expect(await es.request({ op: 'connect', id: 1 })).toMatchObject({ op: 'ok', principal: `user-${i}` });
    }
    expect(fetches).toBe(1);
    // An RS256 token is refused where only the JWKS (EC key) is configured.
    const wrong = await replicas.client(jwksMesh, 'protomesh.v1', {
      authorization: `Bearer ${signed('RS256', rsa.privateKey, claims())}`,
    });
    expect((await wrong.closed).code).toBe(4401);
  });
});

describe('token refresh', () => {
  it('keeps a connection past its first token expiry after a refresh; without one it closes with 4401', async () => {
    const [a] = await securedPair();
    const short = () => hs256(claims({}, 1));
    const refreshed = await replicas.client(a, 'protomesh.v1', { authorization: `Bearer ${short()}` });
    const lapsing = await replicas.client(a, 'protomesh.v1', { authorization: `Bearer ${short()}` });
    const ok = await refreshed.request({ op: 'refresh', id: 'r', token: hs256(claims({}, 60)) });
    expect(ok).toMatchObject({ op: 'ok', id: 'r', expiresAt: expect.any(Number) });
    // Another subject cannot take the connection over.
    expect(await refreshed.request({ op: 'refresh', id: 'x', token: hs256(claims({ sub: 'mallory' })) })).toMatchObject(
      {
        code: 'PM_WS_UNAUTHORIZED',
      },
    );
    const closed = await lapsing.closed;
    expect(closed.code).toBe(4401);
    expect(closed.reason).toContain('token expired');
    expect(await refreshed.request({ op: 'ping', id: 'still' })).toEqual({ op: 'pong', id: 'still' });
  });

  it('the SDK refreshes a token function before expiry and stays connected', async () => {
    const [a] = await securedPair();
    let issued = 0;
    const client = new ProtomeshClient({
      url: replicas.url(a),
      WebSocket: WebSocket as never,
      token: () => {
        issued += 1;
        return hs256(claims({}, 2));
      },
      refreshBeforeMs: 1_500,
    });
    sdkClients.push(client);
    const closes: number[] = [];
    client.on('close', (event) => closes.push(event.code));
    await client.connect();
    await waitFor(() => issued >= 3, 'two refreshes', 10_000);
    expect(closes).toEqual([]);
    expect(client.state).toBe('open');
  });
});

describe('Origin allow-list', () => {
  it('refuses a browser handshake from an origin not in WS_ALLOWED_ORIGINS with HTTP 403', async () => {
    const mesh = await replicas.start(uniqueName(), {
      WS_ALLOWED_ORIGINS: 'https://app.example,https://admin.example',
    });
    await expect(replicas.client(mesh, 'protomesh.v1', { origin: 'https://evil.example' })).rejects.toThrow(/403/);
    const allowed = await replicas.client(mesh, 'protomesh.v1', { origin: 'https://admin.example' });
    expect(await allowed.request({ op: 'ping', id: 1 })).toEqual({ op: 'pong', id: 1 });
    // Not a browser (no Origin header): not subject to the list.
    const backend = await replicas.client(mesh);
    expect(await backend.request({ op: 'ping', id: 1 })).toEqual({ op: 'pong', id: 1 });
  });
});
