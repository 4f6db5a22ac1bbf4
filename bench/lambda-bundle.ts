/**
 * The API Lambda's bundle as CDK builds it (esbuild, ESM, minified, the AWS SDK bundled in, native
 * modules left out): its size, and the time to initialise the module (importing it; the engine opens
 * at the first invocation), over 15 fresh Node processes; median.
 * Issue 7's budget: under 1.5 MB minified, under 150 ms to initialise on this machine.
 *
 *   npm run bench -- lambda-bundle
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { lambdaBuildOptions } from '../infra/lambda-bundle.js';

const outdir = 'node_modules/.cache/spool-bench-bundle';
mkdirSync(outdir, { recursive: true });
for (const entry of ['api', 'maintenance']) await build(lambdaBuildOptions(`functions/${entry}.ts`, `${outdir}/${entry}.mjs`));
writeFileSync(
  `${outdir}/measure.mjs`,
  `const t0 = performance.now(); await import('./api.mjs'); process.stdout.write(String(performance.now() - t0));`,
);
const runs = Array.from({ length: 15 }, () =>
  Number(execFileSync(process.execPath, [`${outdir}/measure.mjs`], { env: { ...process.env, AWS_REGION: 'us-east-1' } }).toString()),
);
const median = [...runs].sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
const size = (name: string) => statSync(`${outdir}/${name}.mjs`).size;
console.log(`Lambda bundle, ${new Date().toISOString()}, Node ${process.version} (Lambda runs nodejs22.x on arm64; this is x64)`);
console.log('| measure | value | budget |');
console.log('|---|---|---|');
console.log(`| API bundle, minified | ${(size('api') / 1e6).toFixed(2)} MB | < 1.5 MB |`);
console.log(`| maintenance bundle, minified | ${(size('maintenance') / 1e6).toFixed(2)} MB | |`);
console.log(`| API module initialisation, median of ${runs.length} fresh processes | ${median.toFixed(1)} ms | < 150 ms |`);
