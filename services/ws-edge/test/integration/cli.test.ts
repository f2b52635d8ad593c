// The protomesh-ws CLI (bin/protomesh-ws.mjs, built SDK + ws), spawned like a user would.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type NatsServerHandle, startNatsServer, uniqueName } from '@protomesh/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Replicas } from '../support/replicas.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../../../bin/protomesh-ws.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pm-cli-'));
let nats: NatsServerHandle;
let replicas: Replicas;

beforeAll(async () => {
  nats = await startNatsServer();
  replicas = new Replicas(nats.url);
});

afterEach(async () => {
  await replicas.close();
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await nats?.stop();
});

describe('protomesh-ws CLI', () => {
  it('publishes (text, file bytes) and subscribes like mosquitto_pub / mosquitto_sub', async () => {
    const mesh = await replicas.start(uniqueName());
    const url = replicas.url(mesh);

    const first = await run(process.execPath, [cli, 'pub', 'cli/a', 'hello world', '-q', '1', '-v', '-u', url]);
    expect(first.stdout).toBe('seq 1\n');
    const file = join(dir, 'payload.bin');
    writeFileSync(file, Buffer.from([0x68, 0x69, 0x21]));
    await run(process.execPath, [
      cli,
      'pub',
      'cli/b',
      '-f',
      file,
      '-q',
      '1',
      '--content-type',
      'text/plain',
      '-u',
      url,
    ]);

    // Subscribe from position 0 (recovers both), then wait for one more live message.
    const sub = spawn(process.execPath, [cli, 'sub', 'cli/#', '-v', '-C', '3', '--since', '0', '-u', url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    sub.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    sub.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => sub.once('exit', (code) => resolve(code)));
    for (let i = 0; i < 500 && out.split('\n').length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    await run(process.execPath, [cli, 'pub', 'cli/c', 'live', '-u', url]);
    expect(await exited).toBe(0);
    expect(err).toBe('');
    expect(out).toBe('cli/a hello world\ncli/b hi!\ncli/c live\n');
  });

  it('reports errors with a code and a non-zero exit', async () => {
    const mesh = await replicas.start(uniqueName());
    const bad = run(process.execPath, [cli, 'pub', 'a/+', 'x', '-u', replicas.url(mesh)]);
    await expect(bad).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('PM_WS_TOPIC_INVALID') });
    await expect(run(process.execPath, [cli, 'frobnicate'])).rejects.toMatchObject({ code: 2 });
    const help = await run(process.execPath, [cli, '--help']);
    expect(help.stdout).toContain('protomesh-ws sub <filter>');
  });
});
