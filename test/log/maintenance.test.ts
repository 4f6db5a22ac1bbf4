import { describe } from 'vitest';
import { embedded } from '../support/stores.js';
import { maintenanceSuite } from './maintenance.suite.js';

describe(embedded.name, () => maintenanceSuite(() => embedded));
