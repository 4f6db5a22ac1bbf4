// The interop scenario (scenario.ts) with the Java client, kafka-clients 3.9 (Logstash's): default idempotent producer (acks=all), gzip; java/.
import { java } from './clients.js';
import { describeInterop } from './scenario.js';

describeInterop(java);
