import { describe, inject } from 'vitest';
import { openStores } from '../../lib/storage/open.js';
import { lambdaSuite } from '../http/lambda.suite.js';
import { maintenanceHandlerSuite } from '../log/maintenance-handler.suite.js';
import { awsResourceName, useSdkEnvironment } from '../support/aws-target.js';
import { tempDir } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  const target = inject('awsTarget');
  const env = {
    SPOOL_DATA_DIR: tempDir(),
    SPOOL_OBJECT_STORE: `s3://${awsResourceName(target, 'lambda')}/spool`,
    SPOOL_METADATA_STORE: `dynamodb://${awsResourceName(target, 'lambda')}`,
  };
  // The SDK reads endpoints, region and credentials from the process environment, as it does in Lambda.
  const endpoints = () => {
    useSdkEnvironment(target);
    Object.assign(process.env, env);
    return env;
  };
  // In the cloud CDK creates the bucket and table; here the test does, and the handler must not.
  const prepare = async () => {
    endpoints();
    const stores = await openStores(
      { dataDir: env.SPOOL_DATA_DIR, objectStoreUrl: env.SPOOL_OBJECT_STORE, metadataStoreUrl: env.SPOOL_METADATA_STORE },
      { createIfMissing: true },
    );
    await stores.objects.close();
    await stores.metadata.close();
  };
  lambdaSuite(endpoints, prepare);
  // Its own table and bucket, so the counts it checks are its own.
  maintenanceHandlerSuite(() => ({
    ...endpoints(),
    SPOOL_OBJECT_STORE: `s3://${awsResourceName(target, 'maintenance')}/spool`,
    SPOOL_METADATA_STORE: `dynamodb://${awsResourceName(target, 'maintenance')}`,
  }));
});
