/**
 * How Spool's Lambda functions are bundled, in one place: the CDK stack hands these settings to
 * NodejsFunction, and the bundle test and benchmark build with the same ones through esbuild.
 * ESM, minified; the AWS SDK is bundled (it loads faster than the runtime's copy); LMDB and the
 * native CRC are left out (Lambda uses DynamoDB and the portable CRC-32C). ESM bundles need a
 * `require` for the CommonJS parts of dependencies: the banner provides one.
 */
import type { BuildOptions } from 'esbuild';

export const lambdaExternalModules = ['lmdb', '@node-rs/crc32'];
export const lambdaBanner =
  "import { createRequire as spoolCreateRequire } from 'module'; const require = spoolCreateRequire(import.meta.url);";
export const lambdaMainFields = ['module', 'main'];

/** The same bundle, built directly with esbuild (tests and benchmarks). */
export function lambdaBuildOptions(entry: string, outfile: string): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    mainFields: lambdaMainFields,
    external: lambdaExternalModules,
    banner: { js: lambdaBanner },
    logLevel: 'silent',
  };
}
