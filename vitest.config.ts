import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests run against TypeScript sources: every workspace package resolves to its src/index.ts.
const root = fileURLToPath(new URL('.', import.meta.url));
const alias = ['libs', 'services'].flatMap((group) =>
  readdirSync(new URL(`./${group}/`, import.meta.url)).map((name) => ({
    find: new RegExp(`^@protomesh/${name}$`),
    replacement: `${root}${group}/${name}/src/index.ts`,
  })),
);

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{libs,services}/*/test/unit/**/*.test.ts', 'test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['{libs,services}/*/test/integration/**/*.test.ts', 'test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Each file starts its own nats-server and services; two cores are shared.
          maxWorkers: 2,
          // Run after the unit project (vitest needs distinct group orders when maxWorkers differ).
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
