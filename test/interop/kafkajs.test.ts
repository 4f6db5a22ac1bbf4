// The interop scenario (scenario.ts) with kafkajs (npm), the scenario's programs in kafkajs/client.ts.
import { kafkajs } from './clients.js';
import { describeInterop } from './scenario.js';

describeInterop(kafkajs);
