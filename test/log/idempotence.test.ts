import { describe } from 'vitest';
import { embedded } from '../support/stores.js';
import { idempotenceSuite } from './idempotence.suite.js';

describe(`log > idempotent producers > ${embedded.name}`, () => idempotenceSuite(() => embedded));
