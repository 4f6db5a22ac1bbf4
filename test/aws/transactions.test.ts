import { describe, inject } from 'vitest';
import { transactionStoreSuite } from '../transactions/store.suite.js';
import { transactionsSuite } from '../log/transactions.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  transactionStoreSuite(() => awsKind(inject('awsTarget')));
  transactionsSuite(() => awsKind(inject('awsTarget')));
});
