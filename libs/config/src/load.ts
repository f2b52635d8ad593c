import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigFileError, ConfigInvalidError } from './errors.js';
import { isFailure } from './parse.js';
import { type MeshConfig, SETTINGS } from './settings.js';

/** Environment variable naming the optional YAML configuration file. */
export const CONFIG_FILE_ENV = 'PROTOMESH_CONFIG';

export interface LoadConfigOptions {
  /** Defaults to `process.env`. Environment values override the file. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** YAML file path; defaults to `$PROTOMESH_CONFIG`. */
  readonly file?: string;
}

/**
 * Reads the environment and the optional YAML file, validates every setting once and
 * returns a deeply frozen {@link MeshConfig}. All problems are reported together, each
 * naming the field, its environment variable and what was expected.
 */
export function loadConfig(options: LoadConfigOptions = {}): MeshConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env[CONFIG_FILE_ENV];
  const fromFile = file ? readYaml(file) : {};
  const problems: string[] = [];
  const known = new Set<string>(SETTINGS.map((s) => s.path));
  for (const path of leafPaths(fromFile)) {
    if (!known.has(path)) problems.push(`${path} (in ${file}): unknown setting`);
  }
  const result: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const envValue = env[s.env];
    const source = envValue !== undefined && envValue !== '' ? 'env' : 'file';
    const raw = source === 'env' ? envValue : getPath(fromFile, s.path);
    let value: unknown = s.default;
    if (raw !== undefined && raw !== null) {
      const parsed = (s.parse as (raw: unknown) => unknown)(raw);
      if (isFailure(parsed)) {
        const where = source === 'env' ? `${s.env}` : `${s.env}, in ${file}`;
        problems.push(`${s.path} (${where}): expected ${parsed.expected}, got ${JSON.stringify(raw)}`);
        continue;
      }
      value = parsed;
    }
    setPath(result, s.path, value);
  }
  if (problems.length > 0) throw new ConfigInvalidError(problems);
  return deepFreeze(result) as unknown as MeshConfig;
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(file, (error as Error).message, { cause: error });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new ConfigFileError(file, (error as Error).message, { cause: error });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ConfigFileError(file, 'expected a mapping at the top level');
  return doc as Record<string, unknown>;
}

function leafPaths(value: unknown, base = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return base ? [base] : [];
  return Object.entries(value).flatMap(([key, child]) => leafPaths(child, base ? `${base}.${key}` : key));
}

function getPath(object: Record<string, unknown>, path: string): unknown {
  let current: unknown = object;
  for (const key of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function setPath(object: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let current = object;
  for (const key of keys.slice(0, -1)) {
    current[key] ??= {};
    current = current[key] as Record<string, unknown>;
  }
  current[keys[keys.length - 1]!] = value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
