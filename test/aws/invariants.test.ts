import { describe, inject } from 'vitest';
import { invariantSuite } from '../log/invariants.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  // (the leadership-trading test in packed mode runs on the embedded store only, for its duration: invariants.suite.ts)
  invariantSuite(() => awsKind(inject('awsTarget')), { packedTrading: false });
});
