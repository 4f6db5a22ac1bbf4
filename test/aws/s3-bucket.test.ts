/**
 * The S3 adapter creating its bucket (SPOOL_CREATE_STORES): outside us-east-1, S3 refuses a
 * CreateBucket that names no LocationConstraint (IllegalLocationConstraintException), so the adapter
 * names the client's region. The emulators accept either; what is checked is what the adapter sends.
 */
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, inject, it } from 'vitest';
import { S3ObjectStore } from '../../lib/storage/s3.js';
import { awsResourceName, s3ClientConfig } from '../support/aws-target.js';

const target = inject('awsTarget');

describe(`aws (${target.name}) > S3 bucket creation`, () => {
  // Against a real account this would leave a bucket in a second region, which the run's cleanup
  // (in the target's region) does not reach: the emulators answer for every region.
  it.skipIf(target.kind === 'aws')(
    "creates a missing bucket with the client's region as its LocationConstraint, and none in us-east-1",
    async () => {
      for (const region of ['eu-west-1', 'us-east-1']) {
        const client = new S3Client({ ...s3ClientConfig(target), region });
        const sent: unknown[] = [];
        client.middlewareStack.add(
          (next, context) => async (args) => {
            if (context.commandName === 'CreateBucketCommand')
              sent.push((args.input as { CreateBucketConfiguration?: unknown }).CreateBucketConfiguration);
            return next(args);
          },
          { step: 'initialize' },
        );
        const bucket = awsResourceName(target, `region-${region}`);
        const store = new S3ObjectStore(client, bucket);
        await store.ensureReady();
        await client.send(new HeadBucketCommand({ Bucket: bucket }));
        expect(sent).toEqual([region === 'us-east-1' ? undefined : { LocationConstraint: region }]);
        await store.close();
      }
    },
  );
});
