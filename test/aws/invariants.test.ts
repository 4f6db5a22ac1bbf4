import { describe, inject } from 'vitest';
import { invariantSuite } from '../log/invariants.suite.js';
import { awsKind } from '../support/stores.js';

describe('aws (DynamoDB Local + s3rver)', () => {
  invariantSuite(() => awsKind({ dynamoEndpoint: inject('dynamoEndpoint'), s3Endpoint: inject('s3Endpoint') }));
});
