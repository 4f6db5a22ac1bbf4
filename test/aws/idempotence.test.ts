import { describe, inject } from 'vitest';
import { idempotenceSuite } from '../log/idempotence.suite.js';
import { awsKind } from '../support/stores.js';

describe(`log > idempotent producers > aws (${inject('awsTarget').name})`, () => {
  idempotenceSuite(() => awsKind(inject('awsTarget')));
});
