// The interop scenario (scenario.ts) with sarama (Filebeat's client) at protocol version 2.1.0, acks=1, gzip; go/.
import { sarama } from './clients.js';
import { describeInterop } from './scenario.js';

describeInterop(sarama);
