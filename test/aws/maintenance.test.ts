import { describe, inject } from 'vitest';
import { maintenanceSuite } from '../log/maintenance.suite.js';
import { awsKind } from '../support/stores.js';

describe('aws (DynamoDB Local + s3rver)', () => {
  maintenanceSuite(() => awsKind({ dynamoEndpoint: inject('dynamoEndpoint'), s3Endpoint: inject('s3Endpoint') }));
});
