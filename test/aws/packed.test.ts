import { describe, inject } from 'vitest';
import { packedSuite } from '../log/packed.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  packedSuite(() => awsKind(inject('awsTarget')));
});
