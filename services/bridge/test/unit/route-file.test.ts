import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  compileRoutes,
  loadRoutes,
  parseRoutes,
  ROUTES_SCHEMA,
  RouteInvalidError,
  RoutesFileError,
} from '@protomesh/bridge';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-routes-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ROUTE = `
  - id: r1
    from: { tier: mqtt, filter: a/# }
    to: { tier: ws, topic: 'b/{#}' }
`;

describe('routes file', () => {
  it('the published routes.schema.json is the schema the bridge validates with', async () => {
    const published = JSON.parse(await readFile(here('../../routes.schema.json'), 'utf8'));
    expect(published).toEqual(JSON.parse(JSON.stringify(ROUTES_SCHEMA)));
  });

  it('the example routes file is valid and compiles', async () => {
    const loaded = await loadRoutes(here('../../examples/routes.yaml'));
    expect(loaded.routes.map((r) => r.id)).toEqual(['telemetry-to-apps', 'hot-alarms', 'stills', 'commands', 'legacy']);
    const compiled = compileRoutes('mesh', loaded.routes, { labels: loaded.labels });
    expect(compiled.find((r) => r.id === 'legacy')?.enabled).toBe(false);
    expect(compiled.find((r) => r.id === 'commands')?.qos).toEqual({ set: 1 });
  });

  it('schema errors name the route and the field', () => {
    const bad = (yaml: string) => () => parseRoutes(yaml, 'routes.yaml');
    const three = (third: string) => `routes:\n${ROUTE}${ROUTE.replace('r1', 'r2')}${third}`;
    expect(bad(three(`  - id: r3\n    from: { tier: mqtt, filter: x }\n    to: { tier: ws, topic: 7 }\n`))).toThrow(
      /^routes\[2\]\.to\.topic: must be string$/,
    );
    expect(bad(three(`  - id: r3\n    from: { tier: mqtt, filter: x }\n    to: { tier: amqp }\n`))).toThrow(
      /^routes\[2\]\.to\.tier: expected one of "mqtt", "ws"$/,
    );
    expect(bad(three(`  - id: r3\n    from: { tier: mqtt, filter: x }\n`))).toThrow(/^routes\[2\]\.to: is required$/);
    expect(bad(three(`  - id: r3\n    from: { tier: mqtt, filter: x }\n    to: { tier: ws, topik: a }\n`))).toThrow(
      /^routes\[2\]\.to\.topik: unknown field \(expected one of tier, topic\)$/,
    );
    expect(
      bad(three(`  - id: r3\n    from: { tier: mqtt, filter: x }\n    to: { tier: ws }\n    qos: { cap: 5 }\n`)),
    ).toThrow(/^routes\[2\]\.qos: expected keep, \{cap: 0\|1\|2\} or \{set: 0\|1\|2\}$/);
    expect(bad(three(`  - id: "a b"\n    from: { tier: mqtt, filter: x }\n    to: { tier: ws }\n`))).toThrow(
      /^routes\[2\]\.id: expected Stable route id/,
    );
    expect(bad('routes: {}')).toThrow(/^routes: must be array$/);
    expect(bad('routez: []')).toThrow(RouteInvalidError);
    expect(bad('routes: [\n')).toThrow(RoutesFileError);
    expect(parseRoutes('# nothing yet\n', 'empty.yaml')).toEqual([]);
  });

  it('a directory (ConfigMap mount) reads every route file in name order, skipping ..data and dot files', async () => {
    // The kubelet's layout: files are links into ..data, which links to a timestamped directory.
    await mkdir(join(dir, '..2024_01_01'));
    await writeFile(join(dir, '..2024_01_01', 'b.yaml'), `routes:\n${ROUTE.replace('r1', 'b1')}`);
    await writeFile(
      join(dir, '..2024_01_01', 'a.yml'),
      `routes:\n${ROUTE.replace('r1', 'a1')}${ROUTE.replace('r1', 'a2')}`,
    );
    await symlink('..2024_01_01', join(dir, '..data'));
    await symlink('..data/b.yaml', join(dir, 'b.yaml'));
    await symlink('..data/a.yml', join(dir, 'a.yml'));
    await writeFile(join(dir, '.hidden.yaml'), 'not: [valid');
    await writeFile(join(dir, 'notes.txt'), 'ignored');
    const loaded = await loadRoutes(dir);
    expect(loaded.routes.map((r) => r.id)).toEqual(['a1', 'a2', 'b1']);
    expect(loaded.labels).toEqual(['a.yml: routes[0]', 'a.yml: routes[1]', 'b.yaml: routes[0]']);
    // Errors name the file too.
    await writeFile(
      join(dir, '..2024_01_01', 'b.yaml'),
      'routes:\n  - id: b1\n    from: { tier: mqtt }\n    to: { tier: ws }\n',
    );
    await expect(loadRoutes(dir)).rejects.toThrow(/^b\.yaml: routes\[0\]\.from\.filter: is required$/);
  });

  it('a missing path is a one-line error naming it', async () => {
    await expect(loadRoutes(join(dir, 'nope.yaml'))).rejects.toThrow(/nope\.yaml: cannot read \(ENOENT\)$/);
  });

  it('a ConfigMap swap of ..data is a different route set', async () => {
    await mkdir(join(dir, '..v1'));
    await writeFile(join(dir, '..v1', 'routes.yaml'), `routes:\n${ROUTE}`);
    await symlink('..v1', join(dir, '..data'));
    await symlink('..data/routes.yaml', join(dir, 'routes.yaml'));
    const before = await loadRoutes(dir);
    await mkdir(join(dir, '..v2'));
    await writeFile(join(dir, '..v2', 'routes.yaml'), `routes:\n${ROUTE.replace('r1', 'r9')}`);
    await symlink('..v2', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    const after = await loadRoutes(dir);
    expect(after.text).not.toBe(before.text);
    expect(after.routes.map((r) => r.id)).toEqual(['r9']);
  });
});
