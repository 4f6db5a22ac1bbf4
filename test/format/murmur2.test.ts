import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey, toPositive } from '../../lib/format/index.js';
import { expectSpoolError, prng, requireCjs } from './support.js';

// From Apache Kafka's clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
const kafkaVectors: ReadonlyArray<readonly [Buffer, number]> = [
  [Buffer.from('21'), -973932308],
  [Buffer.from('foobar'), -790332482],
  [Buffer.from('a-little-bit-long-string'), -985981536],
  [Buffer.from('a-little-bit-longer-string'), -1486304829],
  [Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'), -58897971],
  [Buffer.from([0x61, 0x62, 0x63]), 479470107],
];

const kafkajsMurmur2 = requireCjs('kafkajs/src/producer/partitioners/default/murmur2') as (key: Buffer) => number;
const createKafkajsDefaultPartitioner = requireCjs('kafkajs/src/producer/partitioners/default') as () => (args: {
  topic: string;
  partitionMetadata: { partitionId: number; leader: number }[];
  message: { key: Buffer };
}) => number;

describe('format > murmur2', () => {
  it("matches Apache Kafka's UtilsTest.testMurmur2 vectors", () => {
    for (const [key, expected] of kafkaVectors) {
      expect(murmur2(key), key.toString()).toBe(expected);
    }
  });

  it('matches the kafkajs murmur2 for random keys of every tail length', () => {
    const random = prng(7);
    for (let i = 0; i < 500; i++) {
      const key = random.bytes(random.int(0, 70));
      expect(murmur2(key), key.toString('hex')).toBe(kafkajsMurmur2(key));
    }
  });

  it('hashes the empty key like Java (no tail bytes)', () => {
    expect(murmur2(Buffer.alloc(0))).toBe(kafkajsMurmur2(Buffer.alloc(0)));
  });

  it('makes numbers non-negative by clearing the sign bit, as Utils.toPositive', () => {
    expect(toPositive(-1)).toBe(0x7fffffff);
    expect(toPositive(-2147483648)).toBe(0);
    expect(toPositive(5)).toBe(5);
  });
});

describe('format > partitionForKey', () => {
  it("picks the partition kafkajs's default (Java-compatible) partitioner picks", () => {
    const random = prng(8);
    const partitioner = createKafkajsDefaultPartitioner();
    for (let i = 0; i < 500; i++) {
      const numPartitions = random.int(1, 200);
      const key = random.bytes(random.int(0, 40));
      const partitionMetadata = Array.from({ length: numPartitions }, (_, partitionId) => ({ partitionId, leader: 0 }));
      expect(partitionForKey(key, numPartitions)).toBe(partitioner({ topic: 't', partitionMetadata, message: { key } }));
    }
  });

  it('is toPositive(murmur2(key)) % numPartitions', () => {
    for (const [key, hash] of kafkaVectors) {
      expect(partitionForKey(key, 7)).toBe((hash & 0x7fffffff) % 7);
    }
    expect(partitionForKey(Buffer.from('foobar'), 1)).toBe(0);
  });

  it('rejects a partition count that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expectSpoolError(() => partitionForKey(Buffer.from('k'), bad), 'INVALID_ARGUMENT', /numPartitions must be a positive int32/);
    }
  });
});
