// What tracing costs a publish-like hot path: ops/s of the same path with no telemetry code,
// with a call to an empty function (the smallest cost one could add), with tracing off (the
// `tracing.enabled` branch services take), and with tracing on at sampling ratio 0 (spans
// not recorded, trace context still propagated) and 1 (every span recorded and exported
// through the batch processor to an exporter that drops them).
// Each case runs in its own process (its own JIT feedback), cases interleaved over several
// repetitions; the table shows the median.
// Run: npx tsc -b libs/telemetry libs/envelope && node bench/telemetry-overhead.mjs
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { encodeMeta } from '@protomesh/envelope';
import { createTracing, injectTraceHeaders, startPublishSpan } from '@protomesh/telemetry';

const REPETITIONS = Number(process.env.BENCH_REPETITIONS ?? 3);
const ROUNDS = 5;
const OPS_PER_ROUND = Number(process.env.BENCH_OPS ?? 200_000);

const CASES = [
  'baseline (no telemetry code)',
  'no-op function call',
  'tracing off (enabled = false)',
  'tracing on, sampling 0',
  'tracing on, sampling 1',
];

const caseArg = process.argv.indexOf('--case');
if (caseArg > 0) await runCase(Number(process.argv[caseArg + 1]));
else runAll();

function runAll() {
  const results = CASES.map(() => []);
  for (let r = 0; r < REPETITIONS; r++) {
    for (let k = 0; k < CASES.length; k++) {
      const i = (r + k) % CASES.length;
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--case', String(i)], {
        encoding: 'utf8',
      });
      if (child.status !== 0) throw new Error(`case ${CASES[i]} failed: ${child.stderr}`);
      results[i].push(Number(child.stdout.trim()));
    }
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const rows = CASES.map((name, i) => ({ name, ops: median(results[i]) }));
  const base = rows[0].ops;
  const fmt = (n) => Math.round(n).toLocaleString('en-US');
  console.log(
    `\ntelemetry overhead: median of ${REPETITIONS} processes × ${ROUNDS} rounds × ${fmt(OPS_PER_ROUND)} ops (Node ${process.version})\n`,
  );
  console.log('| path | ops/s | vs baseline | ns/op added |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const { name, ops } of rows) {
    const added = 1e9 / ops - 1e9 / base;
    console.log(`| ${name} | ${fmt(ops)} | ${(ops / base).toFixed(2)}× | ${added.toFixed(0)} |`);
  }
  console.log('\n(differences of a few ns/op between the first three rows are measurement noise)');
}

async function runCase(index) {
  /** Drops spans at once: measures the SDK's work, not a network. */
  const discard = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {}, forceFlush: async () => {} };
  const tracing =
    index === 3
      ? createTracing({ service: 'bench', exporter: discard, batch: true, sampler: 'traceidratio', samplerArg: 0 })
      : index === 4
        ? createTracing({ service: 'bench', exporter: discard, batch: true, sampler: 'always_on' })
        : createTracing({ service: 'bench' });
  const topic = 'sensors/1/temp';
  const clientId = 'dev-1';
  let sink = 0;
  /** What every publish does anyway: its metadata into NATS headers. */
  const publish = (meta) => {
    sink += encodeMeta(meta).length;
  };
  const noop = (_a, _b) => {};
  const paths = [
    () => publish({ originTier: 'mqtt', originClient: clientId, qos: 1 }),
    () => {
      noop(topic, clientId);
      publish({ originTier: 'mqtt', originClient: clientId, qos: 1 });
    },
  ];
  // Cases 2-4: the wiring docs/telemetry.md gives the services.
  const traced = () => {
    if (tracing.enabled) {
      const span = startPublishSpan(tracing, { system: 'mqtt', destination: topic, clientId, qos: 1, tier: 'mqtt' });
      publish({ originTier: 'mqtt', originClient: clientId, qos: 1, ...injectTraceHeaders(span) });
      span.end();
    } else publish({ originTier: 'mqtt', originClient: clientId, qos: 1 });
  };
  const fn = paths[index] ?? traced;
  const round = () => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < OPS_PER_ROUND; i++) fn();
    return OPS_PER_ROUND / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  for (let w = 0; w < 3; w++) round();
  const rates = Array.from({ length: ROUNDS }, round).sort((a, b) => a - b);
  await tracing.shutdown();
  process.stdout.write(`${rates[Math.floor(ROUNDS / 2)]}\n`);
  if (sink < 0) process.stderr.write(String(sink));
}
