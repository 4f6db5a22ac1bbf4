import { describe, inject } from 'vitest';
import { maintenanceSuite } from '../log/maintenance.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  maintenanceSuite(() => awsKind(inject('awsTarget')));
});
