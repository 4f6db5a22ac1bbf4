/**
 * Chooses where the `aws` project runs (test/support/aws-target.ts): with no SPOOL_TEST_* variable it
 * starts DynamoDB Local and s3rver and stops them afterwards; with external endpoints or SPOOL_TEST_AWS=1
 * it starts nothing, checks both services answer, and afterwards deletes every bucket and table the
 * run created (all named `<prefix><run id>-…`).
 */
import type { TestProject } from 'vitest/node';
import {
  checkReachable,
  deleteAwsResources,
  externalTargetFromEnv,
  identifyEndpoints,
  localTarget,
  type AwsTarget,
} from '../support/aws-target.js';
import { startLocalAws } from '../support/services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    awsTarget: AwsTarget;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = externalTargetFromEnv(process.env);
  if (external === undefined) {
    const aws = await startLocalAws();
    project.provide('awsTarget', localTarget(aws));
    return () => aws.stop();
  }
  const target = await identifyEndpoints(external);
  await checkReachable(target);
  console.info(`aws project: on ${target.name}; buckets and tables of this run are named ${target.resourcePrefix}*`);
  project.provide('awsTarget', target);
  return async () => {
    const deleted = await deleteAwsResources(target, target.resourcePrefix);
    console.info(
      `aws project: deleted ${deleted.buckets.length} buckets and ${deleted.tables.length} tables named ${target.resourcePrefix}* on ${target.name}`,
    );
  };
}
