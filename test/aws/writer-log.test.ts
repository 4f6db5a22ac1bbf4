import { describe, inject } from 'vitest';
import { writerLogSuite } from '../log/writer-log.suite.js';
import { awsKind } from '../support/stores.js';

describe(`aws (${inject('awsTarget').name})`, () => {
  writerLogSuite(() => awsKind(inject('awsTarget')));
});
