import { readFileSync } from 'node:fs';
import { SETTINGS, settingsTable } from '@protomesh/config';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('carries the configuration reference of every setting, up to date (npm run docs:config)', () => {
    expect(readme).toContain(settingsTable(SETTINGS));
    for (const s of SETTINGS) expect(readme).toContain(`| \`${s.env}\` | \`${s.path}\` |`);
  });

  it('keeps the two commands and the architecture diagram', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm test');
    expect(readme).toContain('```mermaid');
  });
});
