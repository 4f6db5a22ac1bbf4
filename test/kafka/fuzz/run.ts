/**
 * `npm run fuzz -- [--inputs N] [--seed N] [--api Name] [--index I]`: fuzzes every served request
 * decoder at every served version (test/kafka/fuzz/inputs.ts) with N inputs (default 1,000,000),
 * round robin over the (API, version) pairs, and prints per API the inputs decoded and refused, the
 * slowest decode, and every failure with what reproduces it. `--index I` runs input I of the seed
 * alone and prints it. Exits 1 on any failure.
 */
import { parseArgs } from 'node:util';
import { decodeChecked, FuzzFailure, fuzzTargets, nthInput } from './inputs.js';

/** A decode slower than this is reported as a hang. */
const hangMs = 1000;

const { values } = parseArgs({
  options: {
    inputs: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
    api: { type: 'string' },
    index: { type: 'string' },
  },
});
const inputs = Number(values.inputs);
const seed = Number(values.seed);
const targets = fuzzTargets().filter((t) => values.api === undefined || t.codec.name === values.api);
if (targets.length === 0 || !Number.isSafeInteger(inputs) || inputs < 1 || !Number.isSafeInteger(seed)) {
  console.error(
    `usage: npm run fuzz -- [--inputs N] [--seed N] [--api Name] [--index I]; API names: ${[...new Set(fuzzTargets().map((t) => t.codec.name))].join(', ')}`,
  );
  process.exit(2);
}

if (values.index !== undefined) {
  const index = Number(values.index);
  const { target, input } = nthInput(targets, seed, index);
  console.log(`${target.label} (${input.kind}), ${input.bytes.length} bytes: ${input.bytes.toString('hex')}`);
  console.log(decodeChecked(target, input.bytes));
  process.exit(0);
}

interface Tally {
  decoded: number;
  refused: number;
  slowestMs: number;
  slowest: string;
}
const tallies = new Map<string, Tally>();
const failures: string[] = [];
const startedMs = performance.now();
for (let index = 0; index < inputs; index++) {
  const { target, input } = nthInput(targets, seed, index);
  const tally = tallies.get(target.codec.name) ?? { decoded: 0, refused: 0, slowestMs: 0, slowest: '' };
  tallies.set(target.codec.name, tally);
  const beganMs = performance.now();
  try {
    tally[decodeChecked(target, input.bytes)]++;
  } catch (error) {
    if (!(error instanceof FuzzFailure)) throw error;
    failures.push(
      `${error.message}\n  reproduce: npm run fuzz -- --seed ${seed} ${apiFlag()}--index ${index}\n  input (${input.kind}): ${input.bytes.toString('hex')}`,
    );
  }
  const tookMs = performance.now() - beganMs;
  if (tookMs > tally.slowestMs) {
    tally.slowestMs = tookMs;
    tally.slowest = `${target.label} #${index}`;
  }
  if (tookMs > hangMs)
    failures.push(
      `${target.label}: took ${tookMs.toFixed(0)} ms\n  reproduce: npm run fuzz -- --seed ${seed} ${apiFlag()}--index ${index}`,
    );
}
const durationS = (performance.now() - startedMs) / 1000;

function apiFlag(): string {
  return values.api === undefined ? '' : `--api ${values.api} `;
}

console.log(`seed ${seed}: ${inputs} inputs over ${targets.length} (API, version) pairs in ${durationS.toFixed(1)} s`);
console.log(`${'API'.padEnd(26)}${'decoded'.padStart(10)}${'refused'.padStart(10)}   slowest`);
for (const [name, tally] of [...tallies].sort(([a], [b]) => a.localeCompare(b))) {
  console.log(
    `${name.padEnd(26)}${String(tally.decoded).padStart(10)}${String(tally.refused).padStart(10)}   ${tally.slowestMs.toFixed(2)} ms (${tally.slowest})`,
  );
}
console.log(`${failures.length} failures`);
for (const failure of failures.slice(0, 50)) console.log(failure);
process.exit(failures.length > 0 ? 1 : 0);
