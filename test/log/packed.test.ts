import { describe } from 'vitest';
import { embedded, memory } from '../support/stores.js';
import { packedSuite } from './packed.suite.js';

describe(embedded.name, () => packedSuite(() => embedded));
describe(memory.name, () => packedSuite(() => memory));
