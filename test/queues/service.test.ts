import { describe } from 'vitest';
import { embedded } from '../support/stores.js';
import { queueServiceSuite } from './service.suite.js';

describe(embedded.name, () => queueServiceSuite(() => embedded));
