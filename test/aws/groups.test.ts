import { describe, inject } from 'vitest';
import { groupSuite } from '../groups/coordinator.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  groupSuite(() => awsKind(inject('awsTarget')));
});
