// The interop scenario (scenario.ts) with the Java client program built on kafka-clients 4.x (java/, `mvn -P kafka4`): classic group protocol.
import { java4 } from './clients.js';
import { describeInterop } from './scenario.js';

describeInterop(java4);
