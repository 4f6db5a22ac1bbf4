import { describe } from 'vitest';
import { embedded, memory } from '../support/stores.js';
import { writerLogCodecSuite, writerLogSuite } from './writer-log.suite.js';

writerLogCodecSuite();
describe(embedded.name, () => writerLogSuite(() => embedded));
describe(memory.name, () => writerLogSuite(() => memory));
