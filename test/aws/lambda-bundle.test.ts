/**
 * The API function as CDK bundles it (esbuild, ESM, minified, the AWS SDK bundled in, native modules
 * left out), with a console in `console/` beside it as the stack's asset has it, loaded and
 * invoked in process with a function-URL event against the aws project's target.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { lambdaBuildOptions } from '../../infra/lambda-bundle.js';
import { describe, expect, inject, it } from 'vitest';
import { openStores } from '../../lib/storage/open.js';
import { lambdaEvent } from '../http/lambda.suite.js';
import { awsResourceName, useSdkEnvironment } from '../support/aws-target.js';
import { tempDir } from '../support/stores.js';

describe('lambda > bundled API function', () => {
  const suffix = randomUUID().slice(0, 8);
  const target = inject('awsTarget');
  const env = {
    SPOOL_OBJECT_STORE: `s3://${awsResourceName(target, 'bundle')}/spool`,
    SPOOL_METADATA_STORE: `dynamodb://${awsResourceName(target, 'bundle')}`,
    SPOOL_DATA_DIR: tempDir(),
  };
  it('serves a produce and a fetch from the bundle', async () => {
    useSdkEnvironment(target);
    Object.assign(process.env, env);
    const stores = await openStores(
      { dataDir: env.SPOOL_DATA_DIR, objectStoreUrl: env.SPOOL_OBJECT_STORE, metadataStoreUrl: env.SPOOL_METADATA_STORE },
      { createIfMissing: true },
    );
    await Promise.all([stores.objects.close(), stores.metadata.close()]);

    // Inside the repository, so the bundle finds node_modules for what it leaves external.
    const outdir = `node_modules/.cache/spool-bundle-${suffix}`;
    mkdirSync(outdir, { recursive: true });
    await build(lambdaBuildOptions('functions/api.ts', `${outdir}/api.mjs`));
    mkdirSync(`${outdir}/console`);
    writeFileSync(`${outdir}/console/index.html`, '<!doctype html><div id="app"></div>');
    const { handler } = (await import(`${process.cwd()}/${outdir}/api.mjs`)) as {
      handler: (event: unknown, context: unknown) => Promise<{ statusCode: number; body: string }>;
    };
    const invoke = async (...args: Parameters<typeof lambdaEvent>) => {
      const result = await handler(lambdaEvent(...args), {});
      return { status: result.statusCode, body: JSON.parse(result.body) };
    };
    expect(
      await invoke('POST', '/v1/topics/bundled/records', {
        body: JSON.stringify({ records: [{ value: 'from the bundle' }] }),
        functionUrl: true,
      }),
    ).toMatchObject({
      status: 200,
      body: { offsets: [{ partition: 0, offset: 0 }] },
    });
    const fetched = await invoke('GET', '/v1/topics/bundled/partitions/0/records', { functionUrl: true });
    expect(fetched.body.records.map((r: { value: string }) => r.value)).toEqual(['from the bundle']);
    // The bundle finds the console beside itself (functions/api.ts: relative to import.meta.url).
    const page = await handler(lambdaEvent('GET', '/ui/', { functionUrl: true }), {});
    expect([page.statusCode, page.body]).toEqual([200, '<!doctype html><div id="app"></div>']);
  }, 120_000);
});
