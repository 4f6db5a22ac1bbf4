/**
 * Deletes what an interrupted run of the aws project left on an external target: every bucket (with its
 * objects) and every table whose name starts with the given prefix. The target comes from the same
 * SPOOL_TEST_* variables as the run's (test/support/aws-target.ts); a finished run cleans up itself.
 *
 *   SPOOL_TEST_AWS=1 node --import tsx test/aws/cleanup.ts spool-test-3f9a2c-
 *   SPOOL_TEST_AWS=1 node --import tsx test/aws/cleanup.ts spool-test-       # every run's leftovers
 */
import { deleteAwsResources, externalTargetFromEnv, identifyEndpoints } from '../support/aws-target.js';

const prefix = process.argv[2];
const external = externalTargetFromEnv(process.env);
if (prefix === undefined || external === undefined) {
  console.error(
    'usage: SPOOL_TEST_AWS=1 (or SPOOL_TEST_S3_ENDPOINT=… SPOOL_TEST_DYNAMODB_ENDPOINT=…) node --import tsx test/aws/cleanup.ts <name prefix>',
  );
  process.exit(2);
}
const target = await identifyEndpoints(external);
const deleted = await deleteAwsResources(target, prefix);
console.log(`deleted on ${target.name}: buckets [${deleted.buckets.join(', ')}], tables [${deleted.tables.join(', ')}]`);
