import { describe, inject } from 'vitest';
import { metadataStoreContract } from '../storage/metadata-store.contract.js';
import { objectStoreContract } from '../storage/object-store.contract.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  const kind = () => awsKind(inject('awsTarget'));
  metadataStoreContract(kind);
  objectStoreContract(kind);
});
