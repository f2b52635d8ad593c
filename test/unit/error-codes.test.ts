import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist') continue;
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

describe('error codes', () => {
  it('are unique across every package: a code names one error in the whole mesh', () => {
    const owners = new Map<string, string[]>();
    for (const group of ['libs', 'services']) {
      for (const pkg of readdirSync(join(root, group))) {
        const src = join(root, group, pkg, 'src');
        try {
          statSync(src);
        } catch {
          continue;
        }
        for (const file of sources(src)) {
          for (const match of readFileSync(file, 'utf8').matchAll(/defineError\(\s*'(PM_[A-Z0-9_]+)'/g)) {
            const list = owners.get(match[1]!) ?? [];
            list.push(relative(root, file));
            owners.set(match[1]!, list);
          }
        }
      }
    }
    expect(owners.size).toBeGreaterThan(50);
    const duplicated = [...owners].filter(([, files]) => files.length > 1);
    expect(duplicated).toEqual([]);
  });
});
