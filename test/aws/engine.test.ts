import { describe, inject } from 'vitest';
import { engineSuite } from '../log/engine.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  engineSuite(() => awsKind(inject('awsTarget')));
});
