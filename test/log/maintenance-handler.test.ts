import { describe } from 'vitest';
import { tempDir } from '../support/stores.js';
import { maintenanceHandlerSuite } from './maintenance-handler.suite.js';

describe('embedded (lmdb + filesystem)', () => {
  maintenanceHandlerSuite(() => ({ SPOOL_DATA_DIR: tempDir() }));
});
