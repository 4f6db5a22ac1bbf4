import { describe } from 'vitest';
import { embedded, memory } from '../support/stores.js';
import { packingSuite } from './packing.suite.js';

describe(embedded.name, () => packingSuite(() => embedded));
describe(memory.name, () => packingSuite(() => memory));
