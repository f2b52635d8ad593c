import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AclInvalidError,
  AuthFileUnreadableError,
  aclFromObject,
  createAuthorizer,
  loadAclFile,
  parseAcl,
  permissionsFromClaims,
  TokenClaimInvalidError,
} from '@protomesh/auth';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const EXAMPLE = `
default: { publish: [], subscribe: ['public/#'] }
anonymous: { subscribe: ['demo/#'] }
users:
  alice: { publish: ['devices/%c/#'], subscribe: ['devices/%c/#', 'alerts/+'] }
  bob: { publish: ['users/%u/out'], subscribe: ['users/%u/#'] }
clients: { 'dash-*': { subscribe: ['#'] } }
`;

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('ACL documents', () => {
  it('parses the documented example', () => {
    const acl = parseAcl(EXAMPLE, 'acl.yaml');
    expect(acl.default.subscribe).toEqual(['public/#']);
    expect(acl.users.get('alice')?.publish).toEqual(['devices/%c/#']);
    expect(acl.clients.map((c) => c.pattern)).toEqual(['dash-*']);
    expect(Object.isFrozen(acl)).toBe(true);
  });

  it.each([
    [{ users: { alice: { publish: ['a/+b'] } } }, 'users.alice.publish[0]: not a valid MQTT topic filter'],
    [{ users: { alice: { publish: 'a/#' } } }, 'users.alice.publish: must be a list of topic filters'],
    [{ users: { alice: { publish: [3] } } }, 'users.alice.publish[0]: must be a string'],
    [{ users: { alice: { pub: [] } } }, 'users.alice.pub: unknown key'],
    [
      { clients: { 'dash-*': { subscribe: ['x/%c-y'] } } },
      'clients["dash-*"].subscribe[0]: "%c" and "%u" must each be a whole topic level',
    ],
    [{ default: { subscribe: ['$share/g/#'] } }, 'default.subscribe[0]: a shared subscription is not a rule'],
    [{ rules: {} }, 'rules: unknown key'],
    [{ users: ['alice'] }, 'users: must be a mapping'],
    [['x'], '(document): must be a mapping'],
  ])('rejects %j naming the path', (doc, message) => {
    const error = errorOf(() => aclFromObject(doc, 'acl.yaml'));
    expect(AclInvalidError.is(error)).toBe(true);
    expect(error.message).toContain(`acl.yaml: ${message}`);
  });

  it('rejects YAML syntax errors and duplicate keys', () => {
    expect(AclInvalidError.is(errorOf(() => parseAcl('users: {alice: [', 'x.yaml')))).toBe(true);
    const dup = errorOf(() => parseAcl('users:\n  a: {}\n  a: {}\n', 'x.yaml'));
    expect(dup.message).toMatch(/^x\.yaml: \(yaml\): /);
  });

  describe('files', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'pm-acl-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('loads a file and names it in errors', async () => {
      const good = join(dir, 'acl.yaml');
      await writeFile(good, EXAMPLE);
      expect((await loadAclFile(good)).users.size).toBe(2);
      const bad = join(dir, 'bad.yaml');
      await writeFile(bad, 'default: { publish: ["#/a"] }\n');
      await expect(loadAclFile(bad)).rejects.toThrow(`${bad}: default.publish[0]: not a valid MQTT topic filter`);
      const missing = loadAclFile(join(dir, 'missing.yaml'));
      await expect(missing).rejects.toSatisfy((e) => AuthFileUnreadableError.is(e) && /ENOENT/.test(String(e)));
    });
  });
});

describe('permissions from JWT claims', () => {
  it('reads { pub, sub } and { publish, subscribe }', () => {
    expect(permissionsFromClaims({ mesh: { pub: ['a/#'], sub: ['b/+'] } })).toEqual({
      publish: ['a/#'],
      subscribe: ['b/+'],
    });
    expect(permissionsFromClaims({ acl: { publish: ['x'], subscribe: ['y/%c'] } }, 'acl')).toEqual({
      publish: ['x'],
      subscribe: ['y/%c'],
    });
  });

  it('is undefined without the claim and rejects a malformed one naming the path', () => {
    expect(permissionsFromClaims({ sub: 'alice' })).toBeUndefined();
    const error = errorOf(() => permissionsFromClaims({ mesh: { pub: ['ok', 'a/#/b'] } }));
    expect(TokenClaimInvalidError.is(error)).toBe(true);
    expect(error.message).toContain('mesh.pub[1]: not a valid MQTT topic filter');
    expect(TokenClaimInvalidError.is(errorOf(() => permissionsFromClaims({ mesh: 'all' })))).toBe(true);
  });
});

describe('createAuthorizer', () => {
  const acl = parseAcl(EXAMPLE);
  const auth = createAuthorizer({ acl });

  it('allows everything without rules', () => {
    const open = createAuthorizer();
    expect(open.canPublish({ clientId: 'c' }, 'any/topic')).toBe(true);
    expect(open.canSubscribe({ clientId: 'c' }, '#')).toBe(true);
    expect(open.permissionsFor({ clientId: 'c' })).toBeUndefined();
  });

  it('grants default, user and client-pattern rules, with %c and %u substituted', () => {
    const alice = { clientId: 'sensor-1', username: 'alice' };
    expect(auth.canPublish(alice, 'devices/sensor-1/temp')).toBe(true);
    expect(auth.canPublish(alice, 'devices/sensor-2/temp')).toBe(false);
    expect(auth.canSubscribe(alice, 'devices/sensor-1/+')).toBe(true);
    expect(auth.canSubscribe(alice, 'alerts/fire')).toBe(true);
    expect(auth.canSubscribe(alice, 'public/news/#')).toBe(true);
    expect(auth.canSubscribe(alice, 'demo/x')).toBe(false); // anonymous only
    const bob = { clientId: 'b1', username: 'bob' };
    expect(auth.canPublish(bob, 'users/bob/out')).toBe(true);
    expect(auth.canPublish(bob, 'users/alice/out')).toBe(false);
    const dash = { clientId: 'dash-7', username: 'carol' };
    expect(auth.canSubscribe(dash, 'anything/#')).toBe(true);
    expect(auth.canPublish(dash, 'anything')).toBe(false);
  });

  it('grants anonymous rules only without a username', () => {
    expect(auth.canSubscribe({ clientId: 'x' }, 'demo/#')).toBe(true);
    expect(auth.canSubscribe({ clientId: 'x', username: 'zed' }, 'demo/#')).toBe(false);
  });

  it('allows a subscription only when a rule covers it entirely', () => {
    const alice = { clientId: 'sensor-1', username: 'alice' };
    expect(auth.canSubscribe(alice, 'alerts/#')).toBe(false); // rule is alerts/+
    expect(auth.canSubscribe(alice, 'devices/+/temp')).toBe(false);
    expect(auth.canSubscribe(alice, '#')).toBe(false);
  });

  it('[MQTT-4.7.2-1] "#" grants neither $ topics nor $ subscriptions', () => {
    const dash = { clientId: 'dash-1' };
    expect(auth.canSubscribe(dash, '$SYS/#')).toBe(false);
    const all = createAuthorizer({ acl: aclFromObject({ default: { publish: ['#'] } }) });
    expect(all.canPublish(dash, '$SYS/x')).toBe(false);
    expect(all.canPublish(dash, 'x')).toBe(true);
  });

  it('checks the inner filter of a shared subscription and refuses a malformed one', () => {
    const alice = { clientId: 'sensor-1', username: 'alice' };
    expect(auth.canSubscribe(alice, '$share/g/alerts/+')).toBe(true);
    expect(auth.canSubscribe(alice, '$share/g/other/#')).toBe(false);
    expect(createAuthorizer().canSubscribe(alice, '$share/g/x')).toBe(true);
    expect(auth.canSubscribe(alice, '$share//alerts/+')).toBe(false);
  });

  it.each(['a/#', '#', '+', 'x/+/y', '', '$SYS', 'nul\0x'])(
    'a client id %j containing wildcards, "/", "$" or nothing does not widen access',
    (clientId) => {
      const a = createAuthorizer({
        acl: aclFromObject({ default: { publish: ['devices/%c/data'], subscribe: ['devices/%c'] } }),
      });
      const id = { clientId };
      expect(a.canPublish(id, 'devices/other/data')).toBe(false);
      expect(a.canPublish(id, 'devices/a/x/data')).toBe(false);
      expect(a.canSubscribe(id, 'devices/#')).toBe(false);
      expect(a.canSubscribe(id, 'devices/+')).toBe(false);
      expect(a.permissionsFor(id)).toEqual({ publish: [], subscribe: [] });
    },
  );

  it('a username with wildcards does not widen access; %u without a username grants nothing', () => {
    const a = createAuthorizer({ acl: aclFromObject({ default: { publish: ['u/%u/#'] } }) });
    expect(a.canPublish({ clientId: 'c', username: '+' }, 'u/other/x')).toBe(false);
    expect(a.canPublish({ clientId: 'c', username: 'a/b' }, 'u/a/b/x')).toBe(false);
    expect(a.canPublish({ clientId: 'c' }, 'u/c/x')).toBe(false);
    expect(a.canPublish({ clientId: 'c', username: 'ann' }, 'u/ann/x')).toBe(true);
  });

  it('token permissions replace ACL rules by default, or add to them with union', () => {
    const id = { clientId: 'sensor-1', username: 'alice', permissions: { publish: ['t/%u'], subscribe: ['t/#'] } };
    expect(auth.canPublish(id, 't/alice')).toBe(true);
    expect(auth.canSubscribe(id, 't/x')).toBe(true);
    expect(auth.canPublish(id, 'devices/sensor-1/x')).toBe(false);
    const union = createAuthorizer({ acl, tokenPermissions: 'union' });
    expect(union.canPublish(id, 'devices/sensor-1/x')).toBe(true);
    expect(union.canPublish(id, 't/alice')).toBe(true);
    // Token permissions apply even without an ACL file.
    expect(createAuthorizer().canPublish(id, 'elsewhere')).toBe(false);
  });

  it('caches per identity object: a new object sees new permissions', () => {
    const a = createAuthorizer();
    const first = { clientId: 'c', permissions: { publish: ['a'], subscribe: [] } };
    expect(a.canPublish(first, 'a')).toBe(true);
    const refreshed = { ...first, permissions: { publish: ['b'], subscribe: [] } };
    expect(a.canPublish(refreshed, 'a')).toBe(false);
    expect(a.canPublish(refreshed, 'b')).toBe(true);
  });
});
