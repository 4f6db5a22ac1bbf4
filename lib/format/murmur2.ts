/**
 * The Java Kafka client's key partitioner: `toPositive(murmur2(keyBytes)) % numPartitions`
 * (`org.apache.kafka.common.utils.Utils.murmur2`, used by the default partitioner since 0.8.2).
 * Records with the same key must land in the same partition whichever client produced them, so
 * this is bit-for-bit the Java function: 32-bit MurmurHash2 with seed 0x9747b28c, the input read as
 * little-endian 4-byte words, the 1-3 byte tail folded in from its highest byte down, and the
 * result a signed int32. `Math.imul` gives Java's wrapping int multiplication.
 */
import { SpoolError } from '../errors.js';

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/** Kafka's murmur2 of `data`, as the signed int32 Java returns. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const tail = length & ~3;

  for (let i = 0; i < tail; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }

  // Java's switch falls through from case 3 to case 1.
  const rest = length & 3;
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, M);
  }

  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Java's `Utils.toPositive`: clears the sign bit (not `Math.abs`, which fails for -2^31). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition the Java client's default partitioner picks for a non-null key. */
export function partitionForKey(key: Uint8Array, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions < 1 || numPartitions > 0x7fffffff) {
    throw new SpoolError('INVALID_ARGUMENT', `numPartitions must be a positive int32, got ${numPartitions}`, {
      details: { numPartitions },
    });
  }
  return toPositive(murmur2(key)) % numPartitions;
}
