import { randomUUID } from 'node:crypto';
import { describe, inject } from 'vitest';
import { openStores } from '../../lib/storage/open.js';
import { lambdaSuite } from '../http/lambda.suite.js';
import { maintenanceHandlerSuite } from '../log/maintenance-handler.suite.js';
import { tempDir } from '../support/stores.js';

describe('aws (DynamoDB Local + s3rver)', () => {
  const suffix = randomUUID().slice(0, 8);
  const env = {
    SPOOL_DATA_DIR: tempDir(),
    SPOOL_OBJECT_STORE: `s3://lambda-${suffix}/spool`,
    SPOOL_METADATA_STORE: `dynamodb://lambda-${suffix}`,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
  };
  // The SDK reads endpoints from the process environment, as it does in Lambda.
  const endpoints = () => {
    process.env.AWS_ENDPOINT_URL_S3 = inject('s3Endpoint');
    process.env.AWS_ENDPOINT_URL_DYNAMODB = inject('dynamoEndpoint');
    Object.assign(process.env, env);
    return env;
  };
  // In the cloud CDK creates the bucket and table; here the test does, and the handler must not.
  const prepare = async () => {
    endpoints();
    const stores = await openStores({ dataDir: env.SPOOL_DATA_DIR, objectStoreUrl: env.SPOOL_OBJECT_STORE, metadataStoreUrl: env.SPOOL_METADATA_STORE }, { createIfMissing: true });
    await stores.objects.close();
    await stores.metadata.close();
  };
  lambdaSuite(endpoints, prepare);
  // Its own table and bucket, so the counts it checks are its own.
  maintenanceHandlerSuite(() => ({
    ...endpoints(),
    SPOOL_OBJECT_STORE: `s3://maintenance-${suffix}/spool`,
    SPOOL_METADATA_STORE: `dynamodb://maintenance-${suffix}`,
  }));
});
