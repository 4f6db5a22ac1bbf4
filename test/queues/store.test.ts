import { describe } from 'vitest';
import { embedded } from '../support/stores.js';
import { sharePartitionStoreSuite } from './store.suite.js';

describe(embedded.name, () => sharePartitionStoreSuite(() => embedded));
