import { describe } from 'vitest';
import { embedded } from '../support/stores.js';
import { groupSuite } from './coordinator.suite.js';

describe(embedded.name, () => groupSuite(() => embedded));
