import { describe, inject } from 'vitest';
import { packingSuite } from '../log/packing.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  packingSuite(() => awsKind(inject('awsTarget')));
});
