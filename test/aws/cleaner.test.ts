import { describe, inject } from 'vitest';
import { cleanerSuite } from '../log/cleaner.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  cleanerSuite(() => awsKind(inject('awsTarget')));
});
