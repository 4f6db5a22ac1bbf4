import { describe, inject } from 'vitest';
import { authSuite } from '../http/auth.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  authSuite(() => awsKind(inject('awsTarget')));
});
