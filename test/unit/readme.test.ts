import { readFileSync } from 'node:fs';
import { SETTINGS } from '@protomesh/config';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every setting with its variable and YAML path', () => {
    for (const s of SETTINGS) {
      expect(readme).toMatch(
        new RegExp(`^\\|\\s*\`${s.env}\`\\s*\\|\\s*\`${s.path.replace('.', '\\.')}\`\\s*\\|`, 'm'),
      );
    }
  });

  it('keeps the two commands and the architecture diagram', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm test');
    expect(readme).toContain('```mermaid');
  });
});
