import { describe } from 'vitest';
import { embedded } from '../support/stores.js';
import { apiSuite } from './api.suite.js';

describe(embedded.name, () => apiSuite(() => embedded));
