import { describe } from 'vitest';
import { embedded } from '../support/stores.js';
import { engineSuite } from './engine.suite.js';

describe(embedded.name, () => engineSuite(() => embedded));
