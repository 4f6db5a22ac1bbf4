import { describe } from 'vitest';
import { embedded } from '../support/stores.js';
import { authSuite } from './auth.suite.js';

describe(embedded.name, () => authSuite(() => embedded));
