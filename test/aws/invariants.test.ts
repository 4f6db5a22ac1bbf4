import { describe, inject } from 'vitest';
import { invariantSuite } from '../log/invariants.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  invariantSuite(() => awsKind(inject('awsTarget')));
});
