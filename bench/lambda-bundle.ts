/**
 * The API Lambda's asset as CDK builds it: the bundle (esbuild, ESM, minified, the AWS SDK bundled in,
 * native modules left out) and the console's build beside it in `console/` (infra/spool-stack.ts).
 * Measured: their sizes; the time to initialise the module (importing it: Lambda's init phase); and the
 * first invocation, GET /ui/, which opens the engine (S3 and DynamoDB clients, no request sent), builds
 * the app and reads the console, against the same bundle without a console beside it, so the difference
 * is what reading the console costs. 15 fresh Node processes each, interleaved; medians.
 * Issue 7's budget: under 1.5 MB minified, under 150 ms to initialise on this machine.
 *
 *   npm run bench -- lambda-bundle       (after npm run build, which writes dist/console)
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { lambdaBuildOptions } from '../infra/lambda-bundle.js';

const consoleBuild = 'dist/console';
if (!existsSync(`${consoleBuild}/index.html`))
  throw new Error(`The console is not built (no ${consoleBuild}/index.html): run npm run build.`);

// Inside node_modules, so the bundles find what they leave external.
const outdir = 'node_modules/.cache/spool-bench-bundle';
rmSync(outdir, { recursive: true, force: true });
mkdirSync(`${outdir}/bare`, { recursive: true });
for (const entry of ['api', 'maintenance']) await build(lambdaBuildOptions(`functions/${entry}.ts`, `${outdir}/${entry}.mjs`));
cpSync(consoleBuild, `${outdir}/console`, { recursive: true });
copyFileSync(`${outdir}/api.mjs`, `${outdir}/bare/api.mjs`);

// A function-URL event (payload 2.0) for GET /ui/; the times go out as JSON on stdout.
writeFileSync(
  `${outdir}/measure.mjs`,
  `const t0 = performance.now();
const { handler } = await import(process.argv[2]);
const t1 = performance.now();
const domainName = 'abcdefghij.lambda-url.us-east-1.on.aws';
const response = await handler({
  version: '2.0', routeKey: '$default', rawPath: '/ui/', rawQueryString: '', headers: { host: domainName },
  requestContext: { domainName, http: { method: 'GET', path: '/ui/', protocol: 'HTTP/1.1', sourceIp: '203.0.113.7' }, requestId: 'bench', stage: '$default', timeEpoch: Date.now() },
  isBase64Encoded: false,
}, {});
const t2 = performance.now();
process.stdout.write(JSON.stringify({ status: response.statusCode, initMs: t1 - t0, firstInvocationMs: t2 - t1 }));`,
);
const env = {
  ...process.env,
  AWS_REGION: 'us-east-1',
  SPOOL_OBJECT_STORE: 's3://spool-bench/spool',
  SPOOL_METADATA_STORE: 'dynamodb://spool-bench',
};
const measure = (bundle: string, status: number) => {
  const run = JSON.parse(execFileSync(process.execPath, [`${outdir}/measure.mjs`, `./${bundle}`], { env }).toString()) as {
    status: number;
    initMs: number;
    firstInvocationMs: number;
  };
  if (run.status !== status) throw new Error(`GET /ui/ from ${bundle} answered ${run.status}, expected ${status}`);
  return run;
};
const withConsole: ReturnType<typeof measure>[] = [];
const bare: ReturnType<typeof measure>[] = [];
for (let i = 0; i < 15; i++) {
  withConsole.push(measure('api.mjs', 200));
  bare.push(measure('bare/api.mjs', 503));
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const size = (path: string) => statSync(`${outdir}/${path}`).size;
const consoleFiles = readdirSync(`${outdir}/console`);
const consoleBytes = consoleFiles.reduce((sum, name) => sum + size(`console/${name}`), 0);
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
const ms = (runs: ReturnType<typeof measure>[], key: 'initMs' | 'firstInvocationMs') =>
  `${median(runs.map((run) => run[key])).toFixed(1)} ms`;
console.log(`Lambda bundle, ${new Date().toISOString()}, Node ${process.version} (Lambda runs nodejs22.x on arm64; this is x64)`);
console.log('| measure | value | budget |');
console.log('|---|---|---|');
console.log(`| API bundle, minified | ${mb(size('api.mjs'))} (${size('api.mjs')} B) | |`);
console.log(`| console beside it (${consoleFiles.sort().join(', ')}) | ${mb(consoleBytes)} (${consoleBytes} B) | |`);
console.log(`| API bundle and console | ${mb(size('api.mjs') + consoleBytes)} | < 1.5 MB |`);
console.log(`| maintenance bundle, minified | ${mb(size('maintenance.mjs'))} | |`);
console.log(`| API module initialisation, median of ${withConsole.length} fresh processes | ${ms(withConsole, 'initMs')} | < 150 ms |`);
console.log(`| first invocation, GET /ui/ (engine opened, app built, console read) | ${ms(withConsole, 'firstInvocationMs')} | |`);
console.log(`| the same without a console beside the bundle (503) | ${ms(bare, 'firstInvocationMs')} | |`);
