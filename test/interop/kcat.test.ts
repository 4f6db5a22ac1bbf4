// The interop scenario (scenario.ts) with kcat / librdkafka (Debian's kcat): gzip, the murmur2_random partitioner; topics created with kafkajs.
import { kcat } from './clients.js';
import { describeInterop } from './scenario.js';

describeInterop(kcat);
