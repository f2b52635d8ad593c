import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createAuthorizer, createJwtVerifier, parseAcl, parsePasswordFile } from '@protomesh/auth';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectReturn, createMqttAuth, Reason } from '../../src/index.js';
import { type Harness, startHarness } from '../helpers/harness.js';
import { nowSeconds, signHs256 } from '../helpers/jwt.js';
import { publish, publishAcked, subscribe } from '../helpers/packets.js';

const run = promisify(execFile);
const SECRET = 'a-jwt-secret-long-enough-for-hs256-tokens!!';
const ACL = `
default: { subscribe: ['public/#'] }
users:
  alice: { publish: ['devices/%c/#'], subscribe: ['devices/%c/#', 'alerts/+'] }
`;

let dir: string;
let passwordText: string;
let harness: Harness | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mqtt-auth-'));
  // A real mosquitto_passwd file ($7$, PBKDF2-SHA512).
  await run('/usr/bin/mosquitto_passwd', ['-b', '-c', join(dir, 'passwd'), 'alice', 'wonderland']);
  passwordText = await readFile(join(dir, 'passwd'), 'utf8');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(allowAnonymous = false, denySubscribeCode: 0x80 | 0x87 = 0x87): Promise<Harness> {
  const auth = createMqttAuth({
    allowAnonymous,
    passwords: parsePasswordFile(passwordText),
    jwt: createJwtVerifier({ secret: SECRET }),
    authorizer: createAuthorizer({ acl: parseAcl(ACL) }),
  });
  harness = await startHarness({ auth, denySubscribeCode });
  return harness;
}

describe('authentication', () => {
  it('refuses anonymous clients unless enabled (3.1.1 return code 5, MQTT 5 0x87)', async () => {
    const h = await start();
    expect((await h.connect({ version: 4 })).connack.returnCode).toBe(ConnectReturn.NotAuthorized);
    expect((await h.connect({ version: 5 })).connack.reasonCode).toBe(Reason.NotAuthorized);
    await h.close();
    const open = await start(true);
    expect((await open.connect({ version: 5 })).connack.reasonCode).toBe(Reason.Success);
  });

  it('checks user name and password against a mosquitto_passwd file (bad → 4 / 0x86)', async () => {
    const h = await start();
    const good = await h.connect({
      version: 5,
      clientId: 'd1',
      username: 'alice',
      password: Buffer.from('wonderland'),
    });
    expect(good.connack.reasonCode).toBe(Reason.Success);
    const bad5 = await h.connect({ version: 5, username: 'alice', password: Buffer.from('nope') });
    expect(bad5.connack.reasonCode).toBe(Reason.BadUserNameOrPassword);
    const bad4 = await h.connect({ version: 4, username: 'mallory', password: Buffer.from('x') });
    expect(bad4.connack.returnCode).toBe(ConnectReturn.BadUserNameOrPassword);
    expect(await h.metrics.render()).toMatch(/protomesh_auth_failures_total\{[^}]*reason="bad_credentials"[^}]*\} 2/);
  });

  it('accepts a JWT as the password; an expired or forged one is refused (0x86)', async () => {
    const h = await start();
    const token = signHs256(SECRET, { sub: 'svc', exp: nowSeconds() + 60 });
    // (mqtt-packet wants a user name with a password; any name does: the token decides.)
    const jwt = (t: string) => ({ username: 'token', password: Buffer.from(t) });
    expect((await h.connect({ version: 5, ...jwt(token) })).connack.reasonCode).toBe(Reason.Success);
    const expired = signHs256(SECRET, { sub: 'svc', exp: nowSeconds() - 60 });
    expect((await h.connect({ version: 5, ...jwt(expired) })).connack.reasonCode).toBe(Reason.BadUserNameOrPassword);
    const forged = signHs256('a-different-secret-that-is-long-enough!!', { sub: 'svc' });
    expect((await h.connect({ version: 4, username: 'x', password: Buffer.from(forged) })).connack.returnCode).toBe(
      ConnectReturn.BadUserNameOrPassword,
    );
  });
});

describe('authorization (ACL file with %c / %u, JWT claims)', () => {
  const alice = (clientId: string, version: 4 | 5) => ({
    version,
    clientId,
    username: 'alice',
    password: Buffer.from('wonderland'),
  });

  it('denied publish: MQTT 5 PUBACK 0x87; MQTT 3.1.1 acknowledged and dropped', async () => {
    const h = await start();
    const { client: watcher } = await h.connect(alice('watch', 4));
    await subscribe(watcher, [{ topic: 'devices/watch/#' }, { topic: 'alerts/+' }], 0);
    const { client: v5 } = await h.connect(alice('dev-5', 5));
    const id = publish(v5, 'devices/someone-else/temp', 'x', 1);
    expect(await v5.next('puback')).toMatchObject({ messageId: id, reasonCode: Reason.NotAuthorized });
    await publishAcked(v5, 'devices/dev-5/temp', 'allowed (%c)');
    const { client: v4 } = await h.connect(alice('dev-4', 4));
    await publishAcked(v4, 'alerts/fire', 'dropped');
    // Nothing of the above reached the watcher; its own topic does.
    publish(watcher, 'devices/watch/ok', 'seen');
    expect((await watcher.next('publish')).topic).toBe('devices/watch/ok');
    expect(await h.metrics.render()).toMatch(/protomesh_auth_failures_total\{[^}]*reason="acl_denied"[^}]*\} 2/);
  });

  it('denied subscribe: 0x80 (3.1.1), 0x87 (5) or 0x80 (5) with MQTT_DENY_SUBSCRIBE_CODE', async () => {
    const h = await start();
    const { client: v4 } = await h.connect(alice('s4', 4));
    expect(
      await subscribe(v4, [{ topic: 'devices/s4/#' }, { topic: 'devices/#' }, { topic: 'public/news' }], 1),
    ).toEqual([1, 0x80, 1]);
    const { client: v5 } = await h.connect(alice('s5', 5));
    expect(await subscribe(v5, [{ topic: 'secret/#' }, { topic: '$share/g/alerts/+' }], 1)).toEqual([
      Reason.NotAuthorized,
      1,
    ]);
    await h.close();
    const h80 = await start(false, 0x80);
    const { client } = await h80.connect(alice('s5b', 5));
    expect(await subscribe(client, 'secret/#', 1)).toEqual([0x80]);
  });

  it('permissions from JWT claims replace the file rules, with %c substituted', async () => {
    const h = await start();
    const token = signHs256(SECRET, { sub: 'svc', mesh: { pub: ['telemetry/%c'], sub: ['commands/%c'] } });
    const { client, connack } = await h.connect({
      version: 5,
      clientId: 'tok-1',
      username: 'token',
      password: Buffer.from(token),
    });
    expect(connack.reasonCode).toBe(Reason.Success);
    expect(await subscribe(client, [{ topic: 'commands/tok-1' }, { topic: 'public/#' }], 1)).toEqual([
      1,
      Reason.NotAuthorized,
    ]);
    await publishAcked(client, 'telemetry/tok-1', 'ok');
    const id = publish(client, 'telemetry/tok-2', 'no', 1);
    expect((await client.next('puback')).reasonCode).toBe(Reason.NotAuthorized);
    expect(id).toBeGreaterThan(0);
  });

  it('refuses a Will the client may not publish (0x87)', async () => {
    const h = await start();
    const { connack } = await h.connect({
      ...alice('willy', 5),
      will: { topic: 'devices/other/lwt', payload: Buffer.from('x'), qos: 0, retain: false },
    });
    expect(connack.reasonCode).toBe(Reason.NotAuthorized);
  });
});
