import type { Setting } from './setting.js';

const UNITS_MS: ReadonlyArray<readonly [number, string]> = [
  [3_600_000, 'h'],
  [60_000, 'm'],
  [1_000, 's'],
];
const UNITS_BYTES: ReadonlyArray<readonly [number, string]> = [
  [1024 ** 3, 'GiB'],
  [1024 ** 2, 'MiB'],
  [1024, 'KiB'],
];

/** A setting's default as the documentation shows it (`24h`, `64KiB`, `—` when none). */
export function formatDefault(s: Setting): string {
  const value = s.default;
  if (value === undefined) return '—';
  if (typeof value === 'number' && value > 0 && s.parse.unit) {
    const units = s.parse.unit === 'duration' ? UNITS_MS : UNITS_BYTES;
    for (const [size, suffix] of units) if (value % size === 0) return `\`${value / size}${suffix}\``;
    return `\`${value}${s.parse.unit === 'duration' ? 'ms' : ''}\``;
  }
  return `\`${String(value)}\``;
}

/** The Markdown configuration reference: one row per setting. */
export function settingsTable(settings: readonly Setting[]): string {
  const rows = settings.map((s) => `| \`${s.env}\` | \`${s.path}\` | ${formatDefault(s)} | ${s.description} |`);
  return ['| Variable | YAML path | Default | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
