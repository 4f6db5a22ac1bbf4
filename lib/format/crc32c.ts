/**
 * CRC-32C (Castagnoli), the checksum of Kafka RecordBatch v2. A thin wrapper so the codec does not
 * depend on the native package's signature, and so a region can be checksummed without a copy.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC-32C of `bytes[start, end)` as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const region = start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
  return nativeCrc32c(region) >>> 0;
}
