import { describe, inject } from 'vitest';
import { authSuite } from '../http/auth.suite.js';
import { awsKind } from '../support/stores.js';

describe('aws (DynamoDB Local + s3rver)', () => {
  authSuite(() => awsKind({ dynamoEndpoint: inject('dynamoEndpoint'), s3Endpoint: inject('s3Endpoint') }));
});
