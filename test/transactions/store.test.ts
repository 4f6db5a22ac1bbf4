import { describe } from 'vitest';
import { embedded } from '../support/stores.js';
import { transactionStoreSuite } from './store.suite.js';

describe(embedded.name, () => transactionStoreSuite(() => embedded));
