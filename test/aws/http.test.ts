import { describe, inject } from 'vitest';
import { apiSuite } from '../http/api.suite.js';
import { awsKind } from '../support/stores.js';

describe('aws (DynamoDB Local + s3rver)', () => {
  apiSuite(() => awsKind({ dynamoEndpoint: inject('dynamoEndpoint'), s3Endpoint: inject('s3Endpoint') }));
});
