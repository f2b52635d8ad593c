#!/usr/bin/env node
// Dependency direction check. npm workspaces make every package importable from everywhere,
// so only this check keeps the arrows honest:
//   - libs never import services, nor protocol wire libraries (their src/);
//   - services never import each other;
//   - every import is declared in the package's dependencies (tests: also devDependencies,
//     the root's devDependencies and @protomesh/test-support);
//   - tsconfig references equal the @protomesh dependencies, and the root tsconfig lists every package.
// Usage: node scripts/check-deps.mjs [root]   (exit 1 and one line per problem when broken)
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

/** Libraries that speak a client protocol on the wire: only services may use them. */
export const WIRE_LIBRARIES = ['mqtt-packet', 'mqtt', 'ws', 'fastify', '@fastify/websocket', '@fastify/'];

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function files(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files(path, out);
    else if (/\.(m?ts|m?js|tsx)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file) {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const found = new Set();
  for (const match of text.matchAll(IMPORT_RE)) {
    const spec = match[1] ?? match[2];
    if (spec && !spec.startsWith('.') && !spec.startsWith('/')) found.add(spec);
  }
  return found;
}

function packageOf(spec) {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function isWire(name) {
  return WIRE_LIBRARIES.some((w) => (w.endsWith('/') ? name.startsWith(w) : name === w));
}

/** Returns the list of problems found under `root`. */
export function checkDependencies(root) {
  const problems = [];
  const rootPkg = readJson(join(root, 'package.json'));
  const rootDev = new Set(Object.keys(rootPkg.devDependencies ?? {}));
  const packages = [];
  for (const group of ['libs', 'services']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base)) {
      const dir = join(base, name);
      if (existsSync(join(dir, 'package.json')))
        packages.push({ group, dir, pkg: readJson(join(dir, 'package.json')) });
    }
  }
  const byName = new Map(packages.map((p) => [p.pkg.name, p]));
  const serviceNames = new Set(packages.filter((p) => p.group === 'services').map((p) => p.pkg.name));

  for (const { group, dir, pkg } of packages) {
    const where = relative(root, dir);
    const deps = new Set(Object.keys(pkg.dependencies ?? {}));
    const devDeps = new Set(Object.keys(pkg.devDependencies ?? {}));
    for (const file of files(join(dir, 'src'))) {
      for (const spec of importsOf(file)) {
        if (builtins.has(spec) || builtins.has(spec.split('/')[0])) continue;
        const name = packageOf(spec);
        const at = relative(root, file);
        if (name === pkg.name) problems.push(`${at}: imports its own package ${name}`);
        if (group === 'libs' && serviceNames.has(name)) problems.push(`${at}: a lib imports the service ${name}`);
        if (group === 'libs' && isWire(name)) problems.push(`${at}: a lib imports the protocol wire library ${name}`);
        if (group === 'services' && serviceNames.has(name) && name !== pkg.name) {
          problems.push(`${at}: a service imports another service, ${name}`);
        }
        if (!deps.has(name))
          problems.push(`${at}: imports ${name}, which ${where}/package.json does not list in dependencies`);
      }
    }
    for (const file of files(join(dir, 'test'))) {
      for (const spec of importsOf(file)) {
        if (builtins.has(spec) || builtins.has(spec.split('/')[0])) continue;
        const name = packageOf(spec);
        const at = relative(root, file);
        if (group === 'libs' && serviceNames.has(name))
          problems.push(`${at}: a lib's test imports the service ${name}`);
        if (group === 'services' && serviceNames.has(name) && name !== pkg.name) {
          problems.push(`${at}: a service's test imports another service, ${name}`);
        }
        const declared = deps.has(name) || devDeps.has(name) || rootDev.has(name) || name === pkg.name;
        if (!declared && !(name.startsWith('@protomesh/') && byName.get(name)?.group === 'libs')) {
          problems.push(
            `${at}: imports ${name}, which is declared neither in ${where}/package.json nor in the root devDependencies`,
          );
        }
      }
    }
    // tsconfig references must equal the workspace dependencies.
    const tsconfigPath = join(dir, 'tsconfig.json');
    const tsconfig = existsSync(tsconfigPath) ? readJson(tsconfigPath) : { references: [] };
    const referenced = new Set((tsconfig.references ?? []).map((r) => resolve(dir, r.path)));
    const expected = new Set([...deps].filter((d) => byName.has(d)).map((d) => byName.get(d).dir));
    for (const path of expected) {
      if (!referenced.has(path))
        problems.push(`${where}/tsconfig.json: missing reference to ${relative(dir, path)} (a dependency)`);
    }
    for (const path of referenced) {
      if (!expected.has(path))
        problems.push(`${where}/tsconfig.json: references ${relative(dir, path)}, which is not a dependency`);
    }
    for (const d of deps) {
      if (d.startsWith('@protomesh/') && !byName.has(d))
        problems.push(`${where}/package.json: depends on unknown workspace ${d}`);
    }
  }
  // The solution file builds every package.
  const rootTs = existsSync(join(root, 'tsconfig.json')) ? readJson(join(root, 'tsconfig.json')) : { references: [] };
  const rootRefs = new Set((rootTs.references ?? []).map((r) => resolve(root, r.path)));
  for (const { dir } of packages) {
    if (!rootRefs.has(dir)) problems.push(`tsconfig.json: the solution does not reference ${relative(root, dir)}`);
  }
  return problems;
}

const invokedDirectly = process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (invokedDirectly) {
  const root = resolve(process.argv[2] ?? join(dirname(new URL(import.meta.url).pathname), '..'));
  const problems = checkDependencies(root);
  if (problems.length > 0) {
    for (const p of problems) console.error(`check-deps: ${p}`);
    console.error(`check-deps: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log('check-deps: dependency direction ok');
}
