import { describe, inject } from 'vitest';
import { groupSuite } from '../groups/coordinator.suite.js';
import { awsKind } from '../support/stores.js';

describe('aws (DynamoDB Local + s3rver)', () => {
  groupSuite(() => awsKind({ dynamoEndpoint: inject('dynamoEndpoint'), s3Endpoint: inject('s3Endpoint') }));
});
