import { describe, inject } from 'vitest';
import { apiSuite } from '../http/api.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  apiSuite(() => awsKind(inject('awsTarget')));
});
