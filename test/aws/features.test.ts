import { describe, inject } from 'vitest';
import { featuresSuite } from '../log/features.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  featuresSuite(() => awsKind(inject('awsTarget')));
});
