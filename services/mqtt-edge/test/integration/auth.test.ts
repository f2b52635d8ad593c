import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '@protomesh/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reason } from '../../src/index.js';
import { Cluster, type Replica } from '../helpers/cluster.js';
import { nowSeconds, signHs256 } from '../helpers/jwt.js';

const run = promisify(execFile);
const SECRET = 'integration-secret-long-enough-for-hs256!!';

let cluster: Cluster;
let dir: string;
let secured: Replica;
let defaults: Replica;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mqtt-edge-auth-'));
  await run('/usr/bin/mosquitto_passwd', ['-b', '-c', join(dir, 'passwd'), 'sensor', 's3cret']);
  await writeFile(join(dir, 'acl.yaml'), "users:\n  sensor: { publish: ['sensors/%u/#'], subscribe: ['sensors/#'] }\n");
  cluster = await Cluster.start();
  secured = await cluster.replica({
    MQTT_ALLOW_ANONYMOUS: 'false',
    MQTT_PASSWORD_FILE: join(dir, 'passwd'),
    MQTT_ACL_FILE: join(dir, 'acl.yaml'),
    MQTT_JWT_SECRET: SECRET,
  });
  // No MQTT_ALLOW_ANONYMOUS: with NATS_URL set, anonymous access is off by default.
  defaults = await cluster.replica({ MQTT_ALLOW_ANONYMOUS: '' });
}, 60_000);
afterAll(async () => {
  await cluster?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('authentication and ACLs configured by settings', () => {
  it('anonymous access is off by default when NATS_URL is set', async () => {
    await expect(cluster.client(defaults.url, { protocolVersion: 5 })).rejects.toThrow(/Not authorized/i);
  });

  it('mosquitto_pub with a mosquitto_passwd user; the ACL (%u) drops what it may not publish', async () => {
    const sub = await cluster.client(secured.url, { protocolVersion: 5, username: 'sensor', password: 's3cret' });
    const got: string[] = [];
    sub.on('message', (topic) => got.push(topic));
    await sub.subscribeAsync('sensors/#', { qos: 1 });
    const pub = (topic: string) =>
      run('/usr/bin/mosquitto_pub', [
        '-h',
        '127.0.0.1',
        '-p',
        String(secured.port),
        '-u',
        'sensor',
        '-P',
        's3cret',
        '-t',
        topic,
        '-m',
        'v',
        '-q',
        '1',
      ]);
    await pub('sensors/other/temp'); // 3.1.1: acknowledged and dropped
    await pub('sensors/sensor/temp');
    await waitFor(() => got.length > 0, 'the allowed message');
    expect(got).toEqual(['sensors/sensor/temp']);
    await expect(
      run('/usr/bin/mosquitto_pub', [
        '-h',
        '127.0.0.1',
        '-p',
        String(secured.port),
        '-u',
        'sensor',
        '-P',
        'wrong',
        '-t',
        'x',
        '-m',
        'v',
      ]),
    ).rejects.toThrow();
  });

  it('MQTT.js v5 with a JWT as password: permissions from its claims, denied publish → 0x87', async () => {
    const token = signHs256(SECRET, {
      sub: 'app',
      exp: nowSeconds() + 60,
      mesh: { pub: ['apps/%c/#'], sub: ['apps/#'] },
    });
    const client = await cluster.client(secured.url, {
      protocolVersion: 5,
      clientId: 'app-1',
      username: 'jwt',
      password: token,
    });
    await client.publishAsync('apps/app-1/state', 'ok', { qos: 1 });
    await expect(client.publishAsync('apps/app-2/state', 'no', { qos: 1 })).rejects.toMatchObject({
      code: Reason.NotAuthorized,
    });
    await expect(client.subscribeAsync('elsewhere/#', { qos: 1 })).rejects.toThrow(/Not authorized/);
  });
});
