import { describe, inject } from 'vitest';
import { metadataStoreContract } from '../storage/metadata-store.contract.js';
import { objectStoreContract } from '../storage/object-store.contract.js';
import { awsKind } from '../support/stores.js';

describe('aws (DynamoDB Local + s3rver)', () => {
  const kind = () => awsKind({ dynamoEndpoint: inject('dynamoEndpoint'), s3Endpoint: inject('s3Endpoint') });
  metadataStoreContract(kind);
  objectStoreContract(kind);
});
