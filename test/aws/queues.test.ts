import { describe, inject } from 'vitest';
import { sharePartitionStoreSuite } from '../queues/store.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  sharePartitionStoreSuite(() => awsKind(inject('awsTarget')));
});
