import { describe } from 'vitest';
import { embedded } from '../support/stores.js';
import { transactionsSuite } from './transactions.suite.js';

describe(`log > transactions > ${embedded.name}`, () => transactionsSuite(() => embedded));
