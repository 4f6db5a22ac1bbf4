import { describe, inject } from 'vitest';
import { idempotenceSuite } from '../log/idempotence.suite.js';
import { awsKind } from '../support/stores.js';

describe('log > idempotent producers > aws (DynamoDB Local + s3rver)', () => {
  idempotenceSuite(() => awsKind({ dynamoEndpoint: inject('dynamoEndpoint'), s3Endpoint: inject('s3Endpoint') }));
});
