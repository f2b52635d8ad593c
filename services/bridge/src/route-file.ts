/**
 * Loading routes from `BRIDGE_ROUTES`: one YAML file, or a directory of them (a Kubernetes
 * ConfigMap mount: every `*.yaml`, `*.yml` or `*.json` not starting with `.`, in name order;
 * the `..data` links the kubelet swaps are skipped). Each file is `{ routes: [ … ] }`,
 * validated against {@link ROUTES_SCHEMA} with ajv; errors name the file, route and field:
 * `routes.yaml: routes[2].to.topic: …`.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { RouteInvalidError, RoutesFileError } from './errors.js';
import { ROUTES_SCHEMA } from './route-schema.js';
import type { BridgeRoute } from './routes.js';

/** Routes read from files, with how errors should name each of them. */
export interface LoadedRoutes {
  readonly routes: readonly BridgeRoute[];
  /** Per route: `routes[i]`, or `<file>: routes[i]` when read from a directory. */
  readonly labels: readonly string[];
  /** The files read, in order. */
  readonly files: readonly string[];
  /** The raw text of every file, concatenated: equal text means the same route set. */
  readonly text: string;
}

const ROUTE_FILE = /^[^.].*\.(ya?ml|json)$/;

const ajv = new Ajv({ allErrors: false, verbose: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(ROUTES_SCHEMA);

/** The files `path` stands for: itself, or the route files of a directory in name order. */
export async function routeFiles(path: string): Promise<string[]> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw new RoutesFileError(path, `cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  if (!info.isDirectory()) return [path];
  const names = (await readdir(path)).filter((name) => ROUTE_FILE.test(name)).sort();
  return names.map((name) => join(path, name));
}

/** Reads and validates the routes of a file or directory. Throws `RoutesFileError` or `RouteInvalidError`. */
export async function loadRoutes(path: string): Promise<LoadedRoutes> {
  const files = await routeFiles(path);
  const isDir = files.length !== 1 || files[0] !== path;
  const routes: BridgeRoute[] = [];
  const labels: string[] = [];
  let text = '';
  for (const file of files) {
    let source: string;
    try {
      source = await readFile(file, 'utf8');
    } catch (error) {
      throw new RoutesFileError(file, `cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
    text += `\u0000${basename(file)}\u0000${source}`;
    const name = isDir ? `${basename(file)}: ` : '';
    const parsed = parseRoutes(source, file, name);
    for (const [i, route] of parsed.entries()) {
      routes.push(route);
      labels.push(`${name}routes[${i}]`);
    }
  }
  return { routes, labels, files, text };
}

/** Parses and validates the text of one routes file; `label` prefixes error paths. */
export function parseRoutes(source: string, file: string, label = ''): BridgeRoute[] {
  let value: unknown;
  try {
    value = parseYaml(source, { prettyErrors: true });
  } catch (error) {
    throw new RoutesFileError(file, `not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  // An empty file (or only comments) declares no routes.
  if (value === null || value === undefined) return [];
  if (!validate(value)) {
    const { path, expected } = describeError(validate.errors ?? []);
    throw new RouteInvalidError(`${label}${path}`, expected);
  }
  return (value as { routes: BridgeRoute[] }).routes;
}

/** `/routes/2/to/topic` → `routes[2].to.topic`. */
export function fieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(token) ? `[${token}]` : out === '' ? token : `.${token}`;
  }
  return out === '' ? '(file)' : out;
}

/** One readable error out of ajv's: the field path and what was expected there. */
function describeError(errors: readonly ErrorObject[]): { path: string; expected: string } {
  // For anyOf ajv lists each branch's failure, then the anyOf itself: that one says it best.
  const error = errors.find((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf') ?? errors[0];
  if (!error) return { path: '(file)', expected: 'invalid' };
  const path = fieldPath(error.instancePath);
  const schema = error.parentSchema as { description?: string; properties?: Record<string, unknown> } | undefined;
  const params = error.params as Record<string, unknown>;
  const join = (p: string, key: string) => (p === '(file)' ? key : `${p}.${key}`);
  switch (error.keyword) {
    case 'anyOf':
    case 'oneOf':
      return { path, expected: `expected ${schema?.description ?? 'one of the documented forms'}` };
    case 'required':
      return { path: join(path, String(params.missingProperty)), expected: 'is required' };
    case 'additionalProperties':
      return {
        path: join(path, String(params.additionalProperty)),
        expected: `unknown field (expected one of ${Object.keys(schema?.properties ?? {}).join(', ')})`,
      };
    case 'enum':
      return {
        path,
        expected: `expected one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'pattern':
      return { path, expected: `expected ${schema?.description ?? `a string matching ${String(params.pattern)}`}` };
    default:
      return { path, expected: error.message ?? 'invalid' };
  }
}
