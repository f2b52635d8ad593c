import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthFileUnreadableError,
  hashPassword,
  loadPasswordFile,
  PasswordFileInvalidError,
  parsePasswordFile,
  setPasswordEntry,
  UsernameInvalidError,
} from '@protomesh/auth';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pm-passwd-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('hashPassword and our $scrypt$ format', () => {
  it('hashes with a fresh salt and verifies', async () => {
    const [h1, h2] = await Promise.all([hashPassword('correct horse'), hashPassword('correct horse')]);
    expect(h1).toMatch(/^\$scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{86}==$/);
    expect(h1).not.toBe(h2);
    const file = parsePasswordFile(`alice:${h1}\nbob:${h2}\n`);
    expect(file.size).toBe(2);
    expect(await file.verify('alice', 'correct horse')).toBe(true);
    expect(await file.verify('alice', 'correct horsE')).toBe(false);
    expect(await file.verify('alice', '')).toBe(false);
    expect(await file.verify('carol', 'correct horse')).toBe(false);
  });

  it('verifies a hash with other scrypt parameters and UTF-8 passwords', async () => {
    const salt = Buffer.from('0123456789abcdef');
    const { scryptSync } = await import('node:crypto');
    const hash = scryptSync('pässwörd', salt, 32, { N: 1024, r: 4, p: 2 });
    const line = `u:$scrypt$N=1024,r=4,p=2$${salt.toString('base64')}$${hash.toString('base64')}`;
    const file = parsePasswordFile(line);
    expect(await file.verify('u', 'pässwörd')).toBe(true);
    expect(await file.verify('u', 'passwort')).toBe(false);
  });
});

describe('Mosquitto password files', () => {
  function mosquittoPasswd(args: string[]): void {
    execFileSync('mosquitto_passwd', args, { stdio: 'pipe' });
  }

  it('reads real mosquitto_passwd output: $7$ (PBKDF2-SHA512, the default) and $6$ (-H sha512)', async () => {
    const path = join(dir, 'mosquitto.pw');
    mosquittoPasswd(['-b', '-c', path, 'alice', 's3cret!']);
    mosquittoPasswd(['-H', 'sha512', '-b', path, 'bob', 'hunter2']);
    mosquittoPasswd(['-H', 'sha512-pbkdf2', '-b', path, 'émile', 'mot de passe ü']);
    const text = await readFile(path, 'utf8');
    expect(text).toMatch(/^alice:\$7\$\d+\$/m);
    expect(text).toMatch(/^bob:\$6\$/m);
    const file = await loadPasswordFile(path);
    expect(file.size).toBe(3);
    expect(await file.verify('alice', 's3cret!')).toBe(true);
    expect(await file.verify('alice', 's3cret')).toBe(false);
    expect(await file.verify('bob', 'hunter2')).toBe(true);
    expect(await file.verify('bob', 'Hunter2')).toBe(false);
    expect(await file.verify('émile', 'mot de passe ü')).toBe(true);
    expect(await file.verify('alice', 'hunter2')).toBe(false);
  });

  it('reads a file where protomesh-passwd lines and mosquitto lines mix', async () => {
    const path = join(dir, 'mixed.pw');
    mosquittoPasswd(['-b', '-c', path, 'mq', 'one']);
    const text = setPasswordEntry(await readFile(path, 'utf8'), 'pm', await hashPassword('two'));
    const file = parsePasswordFile(text);
    expect(await file.verify('mq', 'one')).toBe(true);
    expect(await file.verify('pm', 'two')).toBe(true);
  });
});

describe('password file parsing', () => {
  const sha = `$6$${Buffer.alloc(12).toString('base64')}$${Buffer.alloc(64).toString('base64')}`;

  it('skips blank lines, comments and CRLF endings', () => {
    const file = parsePasswordFile(`# users\r\n\r\nalice:${sha}\r\n`);
    expect(file.has('alice')).toBe(true);
    expect(file.size).toBe(1);
  });

  it.each([
    ['alice', 1, 'expected "username:hash"'],
    ['alice:plaintext', 1, 'user "alice": the password is not a supported hash'],
    ['a:$2b$10$abc', 1, 'unsupported hash type $2b$'],
    ['a:$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA', 1, '$argon2id$ hashes (Mosquitto 2.1) are not supported'],
    ['a:$6$!!$abc', 1, '$6$ salt or hash is not valid base64'],
    ['a:$7$0$AAAA$AAAA', 1, '$7$ iterations must be'],
    ['a:$scrypt$N=1000,r=8,p=1$AAAA$AAAA', 1, 'scrypt N must be a power of two'],
    [`# c\nalice:${sha}\nalice:${sha}`, 3, 'user "alice" appears twice'],
  ])('rejects %j at line %i', (text, line, reason) => {
    let error: unknown;
    try {
      parsePasswordFile(text, 'users.pw');
    } catch (e) {
      error = e;
    }
    expect(PasswordFileInvalidError.is(error)).toBe(true);
    expect((error as Error).message).toContain(`users.pw:${line}: `);
    expect((error as Error).message).toContain(reason);
  });

  it('never quotes the password or hash in errors', () => {
    expect(() => parsePasswordFile('alice:TopSecretPlain', 'f')).toThrow(/^(?!.*TopSecretPlain)/);
  });

  it('reports an unreadable file', async () => {
    await expect(loadPasswordFile(join(dir, 'nope'))).rejects.toSatisfy((e) => AuthFileUnreadableError.is(e));
  });
});

describe('setPasswordEntry', () => {
  it('appends, replaces in place and removes, keeping other lines', () => {
    let text = '# header\nbob:$6$x$y\n';
    text = setPasswordEntry(text, 'alice', 'H1');
    expect(text).toBe('# header\nbob:$6$x$y\nalice:H1\n');
    text = setPasswordEntry(text, 'bob', 'H2');
    expect(text).toBe('# header\nbob:H2\nalice:H1\n');
    text = setPasswordEntry(text, 'bob', undefined);
    expect(text).toBe('# header\nalice:H1\n');
    expect(setPasswordEntry('', 'a', 'H')).toBe('a:H\n');
  });

  it.each(['', 'a:b', 'a\nb'])('rejects the username %j', (username) => {
    expect(() => setPasswordEntry('', username, 'H')).toThrow(
      expect.objectContaining({ code: UsernameInvalidError.code }),
    );
  });

  it('writes files the loader reads back', async () => {
    const path = join(dir, 'ours.pw');
    await writeFile(path, setPasswordEntry('', 'zoe', await hashPassword('pw')));
    expect(await (await loadPasswordFile(path)).verify('zoe', 'pw')).toBe(true);
  });
});
