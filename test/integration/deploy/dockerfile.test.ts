// The container image (issue 6): one multi-stage Dockerfile, non-root, that runs any service
// (`node bin/protomesh.mjs <service>`) with a health check. No Docker engine is needed: the
// Dockerfile and .dockerignore are checked statically, and the HEALTHCHECK one-liner is run
// for real against admin servers on free ports.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_BRIDGE_ADMIN_PORT,
  DEFAULT_MQTT_ADMIN_PORT,
  DEFAULT_MQTT_PORT,
  DEFAULT_WS_ADMIN_PORT,
  DEFAULT_WS_PORT,
} from '@protomesh/config';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Dockerfile instructions, with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    current += line.endsWith('\\') ? `${line.slice(0, -1)} ` : line;
    if (line.endsWith('\\')) continue;
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(current);
    if (match) out.push({ keyword: match[1].toUpperCase(), args: match[2].trim() });
    current = '';
  }
  return out;
}

const all = instructions(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const stages: Instruction[][] = [];
for (const instruction of all) {
  if (instruction.keyword === 'FROM') stages.push([]);
  stages.at(-1)?.push(instruction);
}
const runtime = stages.at(-1)!;
const only = (stage: Instruction[], keyword: string) => stage.filter((i) => i.keyword === keyword);

/** .dockerignore patterns as regular expressions (Go filepath.Match plus `**`). */
const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'))
  .map((pattern) => {
    if (pattern.startsWith('!')) throw new Error(`.dockerignore exception ${pattern} is not modelled by this test`);
    const source = pattern
      .replace(/^\/+|\/+$/g, '')
      .split('')
      .map((c, i, s) => {
        if (c === '*' && s[i + 1] === '*') return '';
        if (c === '*' && s[i - 1] === '*') return '.*';
        if (c === '*') return '[^/]*';
        if (c === '?') return '[^/]';
        return c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      })
      .join('')
      .replace(/\.\*\//g, '(?:.*/)?');
    return new RegExp(`^${source}$`);
  });
/** Whether the build context leaves `path` out (a directory's exclusion covers its contents). */
function excluded(path: string): boolean {
  const parts = path.split('/');
  return parts.some((_, i) => ignored.some((re) => re.test(parts.slice(0, i + 1).join('/'))));
}

const workspaces = ['libs', 'services'].flatMap((group) =>
  readdirSync(join(root, group))
    .filter((name) => existsSync(join(root, group, name, 'package.json')))
    .map((name) => `${group}/${name}`),
);

describe('Dockerfile', () => {
  it('builds on node:20-bookworm-slim in several stages and runs the last one as a non-root user', () => {
    expect(all.find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_IMAGE='))?.args).toBe(
      'NODE_IMAGE=node:20-bookworm-slim',
    );
    expect(stages.length).toBeGreaterThanOrEqual(3);
    for (const stage of stages) expect(stage[0].args).toMatch(/^\$\{NODE_IMAGE\} AS [a-z-]+$/);
    const user = only(runtime, 'USER').at(-1)?.args ?? 'root';
    // Numeric, so Kubernetes can check runAsNonRoot.
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    // The runtime stage copies only from other stages: no compiler, sources or dev dependencies.
    for (const copy of only(runtime, 'COPY')) expect(copy.args).toMatch(/--from=/);
  });

  it('compiles with tsc -b and installs production dependencies only for the runtime', () => {
    const runs = all.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /npm ci\b(?!.*--omit=dev)/.test(r) && /npm ci/.test(r))).toBe(true);
    const build = runs.find((r) => /npx tsc -b/.test(r));
    // Each package's output is what its package.json "files" lists, not only dist/.
    expect(build).toMatch(/package\.json'\)\.files/);
    expect(runs.some((r) => /npm ci --omit=dev/.test(r))).toBe(true);
  });

  it('runs any service: ENTRYPOINT node bin/protomesh.mjs, no CMD (= all three)', () => {
    expect(JSON.parse(only(runtime, 'ENTRYPOINT').at(-1)!.args)).toEqual(['node', 'bin/protomesh.mjs']);
    expect(only(runtime, 'CMD')).toEqual([]);
    expect(existsSync(join(root, 'bin', 'protomesh.mjs'))).toBe(true);
    const exposed = only(runtime, 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map(Number));
    for (const port of [
      DEFAULT_MQTT_PORT,
      DEFAULT_WS_PORT,
      DEFAULT_MQTT_ADMIN_PORT,
      DEFAULT_WS_ADMIN_PORT,
      DEFAULT_BRIDGE_ADMIN_PORT,
    ]) {
      expect(exposed).toContain(port);
    }
  });

  it('copies sources that exist and that .dockerignore keeps in the build context', () => {
    for (const copy of all.filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='))) {
      const sources = copy.args
        .split(/\s+/)
        .filter((a) => !a.startsWith('--'))
        .slice(0, -1);
      for (const source of sources) {
        if (source === '.') continue;
        expect(existsSync(join(root, source)), source).toBe(true);
        expect(excluded(source.replace(/\/$/, '')), `${source} is excluded by .dockerignore`).toBe(false);
      }
    }
  });

  it('every runtime workspace is built into the image; test-support is needed by none of them', () => {
    for (const workspace of workspaces) {
      const pkg = JSON.parse(readFileSync(join(root, workspace, 'package.json'), 'utf8'));
      expect(excluded(`${workspace}/package.json`), workspace).toBe(false);
      expect(excluded(`${workspace}/src/index.ts`), workspace).toBe(false);
      expect(excluded(`${workspace}/tsconfig.json`), workspace).toBe(false);
      // What the package ships (dist, and assets such as ws-edge's public/) reaches the image.
      for (const shipped of pkg.files ?? ['dist']) {
        if (shipped !== 'dist') expect(excluded(`${workspace}/${shipped}/x`), `${workspace}/${shipped}`).toBe(false);
      }
      expect(Object.keys(pkg.dependencies ?? {}), workspace).not.toContain('@protomesh/test-support');
    }
  });
});

describe('.dockerignore', () => {
  it('keeps the build context small and free of local state', () => {
    for (const path of [
      'node_modules/x',
      'libs/config/node_modules/y',
      'libs/config/dist/index.js',
      '.git/HEAD',
      '.tmp/x',
    ]) {
      expect(excluded(path), path).toBe(true);
    }
    for (const path of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.base.json',
      'bin/protomesh.mjs',
    ]) {
      expect(excluded(path), path).toBe(false);
    }
    expect(excluded('services/mqtt-edge/test/unit/x.test.ts')).toBe(true);
  });
});

describe('HEALTHCHECK', () => {
  const healthcheck = only(runtime, 'HEALTHCHECK').at(-1)!;
  const command = JSON.parse(healthcheck.args.slice(healthcheck.args.indexOf('CMD') + 3).trim()) as string[];
  const script = command[2];
  const servers: Server[] = [];
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'protomesh-healthcheck-'));
  });
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function admin(status: number): Promise<number> {
    const server = createServer((request, response) => {
      response.writeHead(request.url === '/healthz' ? status : 404).end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }
  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }
  /** Runs the health check as if PID 1's command line were `argv`. */
  function check(argv: string[], env: Record<string, string>, preload?: string): Promise<number> {
    const cmdline = join(dir, `cmdline-${Math.random().toString(36).slice(2)}`);
    writeFileSync(cmdline, `${argv.join('\0')}\0`);
    const args = [...(preload ? ['--require', preload] : []), '-e', script.replace('/proc/1/cmdline', cmdline)];
    return new Promise((resolve) => {
      execFile(
        command[0] === 'node' ? process.execPath : command[0],
        args,
        { cwd: root, env: { PATH: process.env.PATH, ...env } },
        (error) => resolve(error ? Number(error.code ?? 1) : 0),
      );
    });
  }

  it('is a node one-liner with an interval, a timeout and a start period', () => {
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    expect(script).toContain('/proc/1/cmdline');
    expect(healthcheck.args).toMatch(/--interval=\d+s .*--timeout=\d+s .*--start-period=\d+s/);
  });

  it('checks /healthz of the service named on the command line only', async () => {
    const mqtt = await admin(200);
    const closed = String(await closedPort());
    const env = { MQTT_ADMIN_PORT: String(mqtt), WS_ADMIN_PORT: closed, BRIDGE_ADMIN_PORT: closed };
    expect(await check(['node', 'bin/protomesh.mjs', 'mqtt-edge'], env)).toBe(0);
    expect(await check(['node', 'bin/protomesh.mjs', 'ws-edge'], env)).toBe(1);
    // Under an init process (docker run --init, compose init: true) the service is still found.
    expect(await check(['/sbin/docker-init', '--', 'node', 'bin/protomesh.mjs', 'mqtt-edge'], env)).toBe(0);
  });

  it('fails when the admin endpoint answers an error', async () => {
    const env = { BRIDGE_ADMIN_PORT: String(await admin(503)) };
    expect(await check(['node', 'bin/protomesh.mjs', 'bridge'], env)).toBe(1);
  });

  it('with no service argument (the whole mesh), checks all three', async () => {
    const env = {
      MQTT_ADMIN_PORT: String(await admin(200)),
      WS_ADMIN_PORT: String(await admin(200)),
      BRIDGE_ADMIN_PORT: String(await admin(200)),
    };
    expect(await check(['node', 'bin/protomesh.mjs'], env)).toBe(0);
    expect(await check(['node', 'bin/protomesh.mjs'], { ...env, WS_ADMIN_PORT: String(await closedPort()) })).toBe(1);
  });

  it('defaults to the admin ports the services default to', async () => {
    const log = join(dir, 'fetched');
    const preload = join(dir, 'fake-fetch.cjs');
    writeFileSync(
      preload,
      `globalThis.fetch = async (url) => { require('node:fs').appendFileSync(${JSON.stringify(log)}, url + '\\n'); return { ok: true, status: 200 }; };\n`,
    );
    expect(await check(['node', 'bin/protomesh.mjs'], {}, preload)).toBe(0);
    expect(readFileSync(log, 'utf8').trim().split('\n').sort()).toEqual(
      [DEFAULT_MQTT_ADMIN_PORT, DEFAULT_WS_ADMIN_PORT, DEFAULT_BRIDGE_ADMIN_PORT]
        .map((p) => `http://127.0.0.1:${p}/healthz`)
        .sort(),
    );
  });
});
