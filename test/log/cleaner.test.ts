import { describe } from 'vitest';
import { embedded } from '../support/stores.js';
import { cleanerSuite } from './cleaner.suite.js';

describe(embedded.name, () => cleanerSuite(() => embedded));
