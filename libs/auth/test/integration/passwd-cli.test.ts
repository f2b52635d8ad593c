// Runs bin/protomesh-passwd.mjs as users do: it imports the BUILT @protomesh/auth (dist), so
// `tsc -b` must have run (npm test type-checks first).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPasswordFile } from '@protomesh/auth';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../../../../bin/protomesh-passwd.mjs', import.meta.url));

function run(args: string[], stdin?: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stderr });
    });
    child.stdin!.end(stdin ?? '');
  });
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pm-passwd-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('protomesh-passwd', () => {
  it('adds users in batch mode and from stdin, replaces and deletes them', async () => {
    const file = join(dir, 'users.pw');
    expect(await run(['-b', file, 'alice', 'one'])).toMatchObject({ code: 0 });
    expect(await run([file, 'bob'], 'two\n')).toMatchObject({ code: 0 });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    let users = await loadPasswordFile(file);
    expect(await users.verify('alice', 'one')).toBe(true);
    expect(await users.verify('bob', 'two')).toBe(true);

    expect(await run(['-b', file, 'alice', '-three'])).toMatchObject({ code: 0 });
    users = await loadPasswordFile(file);
    expect(await users.verify('alice', 'one')).toBe(false);
    expect(await users.verify('alice', '-three')).toBe(true);
    expect((await readFile(file, 'utf8')).split('\n')[0]).toMatch(/^alice:\$scrypt\$/);

    expect(await run(['-D', file, 'bob'])).toMatchObject({ code: 0 });
    users = await loadPasswordFile(file);
    expect(users.has('bob')).toBe(false);
    expect(users.size).toBe(1);
  });

  it('keeps existing Mosquitto lines', async () => {
    const file = join(dir, 'mixed.pw');
    const mosquittoLine = `old:$6$${Buffer.alloc(12).toString('base64')}$${Buffer.alloc(64).toString('base64')}`;
    await writeFile(file, `${mosquittoLine}\n`);
    expect(await run(['-b', file, 'new', 'pw'])).toMatchObject({ code: 0 });
    const text = await readFile(file, 'utf8');
    expect(text.startsWith(`${mosquittoLine}\nnew:$scrypt$`)).toBe(true);
  });

  it('refuses bad usage, bad usernames and empty passwords', async () => {
    const file = join(dir, 'x.pw');
    expect(await run(['-x', file, 'a'])).toMatchObject({ code: 2 });
    expect(await run([file])).toMatchObject({ code: 2 });
    const colon = await run(['-b', file, 'a:b', 'pw']);
    expect(colon.code).toBe(1);
    expect(colon.stderr).toContain('must not contain ":"');
    expect((await run([file, 'a'], '\n')).stderr).toContain('empty password');
  });
});
