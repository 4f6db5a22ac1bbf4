import { describe } from 'vitest';
import { tempDir } from '../support/stores.js';
import { lambdaSuite } from './lambda.suite.js';

describe('embedded (lmdb + filesystem)', () => {
  // Locally nothing else creates the stores, so this environment allows it.
  lambdaSuite(() => ({ SPOOL_DATA_DIR: tempDir(), SPOOL_CREATE_STORES: 'true' }));
});
