import { describe } from 'vitest';
import { embedded } from '../support/stores.js';
import { invariantSuite } from './invariants.suite.js';

describe(embedded.name, () => invariantSuite(() => embedded));
