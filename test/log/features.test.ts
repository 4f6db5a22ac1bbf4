import { describe } from 'vitest';
import { embedded, memory } from '../support/stores.js';
import { featuresSuite } from './features.suite.js';

describe(embedded.name, () => featuresSuite(() => embedded));
describe(memory.name, () => featuresSuite(() => memory));
