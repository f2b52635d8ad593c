import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkDependencies } from '../../scripts/check-deps.mjs';

function tree(files: Record<string, string | object>): string {
  const root = mkdtempSync(join(tmpdir(), 'pm-deps-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return root;
}

const pkg = (name: string, dependencies: Record<string, string> = {}) => ({ name, dependencies });

describe('check-deps', () => {
  it('passes on this repository', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    expect(checkDependencies(root)).toEqual([]);
  });

  it('reports every kind of broken arrow', () => {
    const root = tree({
      'package.json': { name: 'root', devDependencies: { vitest: '*' } },
      'tsconfig.json': { references: [{ path: 'libs/a' }, { path: 'services/s1' }] },
      'libs/a/package.json': pkg('@protomesh/a', { 'mqtt-packet': '*' }),
      'libs/a/tsconfig.json': { references: [{ path: '../b' }] },
      'libs/a/src/index.ts':
        "import { x } from '@protomesh/s1';\nimport p from 'mqtt-packet';\nimport y from 'undeclared';\n",
      'libs/b/package.json': pkg('@protomesh/b'),
      'libs/b/src/index.ts': "import { readFile } from 'node:fs';\n",
      'services/s1/package.json': pkg('@protomesh/s1', { '@protomesh/a': '*' }),
      'services/s1/tsconfig.json': { references: [] },
      'services/s1/src/index.ts': "import type { T } from '@protomesh/s2';\n",
      'services/s2/package.json': pkg('@protomesh/s2'),
      'services/s2/tsconfig.json': { references: [] },
    });
    const problems = checkDependencies(root).join('\n');
    expect(problems).toContain('libs/a/src/index.ts: a lib imports the service @protomesh/s1');
    expect(problems).toContain('libs/a/src/index.ts: a lib imports the protocol wire library mqtt-packet');
    expect(problems).toContain('libs/a/src/index.ts: imports undeclared');
    expect(problems).toContain('services/s1/src/index.ts: a service imports another service, @protomesh/s2');
    expect(problems).toContain('services/s1/tsconfig.json: missing reference to ../../libs/a');
    expect(problems).toContain('libs/a/tsconfig.json: references ../b, which is not a dependency');
    expect(problems).toContain('tsconfig.json: the solution does not reference libs/b');
    expect(problems).not.toContain('node:fs');
  });
});
