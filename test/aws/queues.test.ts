import { describe, inject } from 'vitest';
import { queueServiceSuite } from '../queues/service.suite.js';
import { sharePartitionStoreSuite } from '../queues/store.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  sharePartitionStoreSuite(() => awsKind(inject('awsTarget')));
  queueServiceSuite(() => awsKind(inject('awsTarget')));
});
