/**
 * Kafka's snappy codec (id 2): snappy blocks from `snappyjs` (pure JS, so it runs in the Lambda
 * bundle too), in either of the two containers Kafka clients write.
 *
 * - xerial framing, written by the Java client (snappy-java's `SnappyOutputStream`), kafka-python
 *   and sarama's stream encoder:
 *
 *   | field              | type          | meaning                                              |
 *   |--------------------|---------------|------------------------------------------------------|
 *   | magic              | 8 bytes       | `82 53 4e 41 50 50 59 00` ("\x82SNAPPY\0")           |
 *   | version            | int32 BE      | 1                                                    |
 *   | compatibleVersion  | int32 BE      | 1                                                    |
 *   | chunks, repeated   | int32 BE + …  | compressed length, then one raw snappy block of at   |
 *   |                    |               | most 32 KiB uncompressed (snappy-java's block size)   |
 *
 *   snappy-java also accepts the magic again at a chunk boundary (concatenated streams); so do we.
 * - raw: one snappy block (varint uncompressed length, then elements), written by librdkafka,
 *   sarama and kafkajs-snappy.
 *
 * A raw block cannot be told from a xerial stream by anything but that 8-byte magic; snappy-java,
 * librdkafka, sarama and kafka-python all decide the same way.
 *
 * We write xerial framing with 32 KiB blocks, byte-compatible with the Java client. Every client
 * decodes it (librdkafka, sarama, kafka-python and kafkajs-snappy detect the magic; Java requires
 * nothing else), while raw blocks are read by Java only through snappy-java's fallback path.
 */
import snappyjs from 'snappyjs';
import { asBuffer, outputTooLarge, type Codec } from './codec.js';

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;
const XERIAL_VERSION = 1;
const XERIAL_COMPATIBLE_VERSION = 1;
/** snappy-java's default block size; Java consumers size their buffers for it. */
const XERIAL_BLOCK_BYTES = 32 * 1024;
/**
 * No snappy element expands more than 64 bytes out of 3 in (a copy with a 2-byte offset), so a
 * block that declares more than this many bytes per input byte is corrupt. Checked before
 * `snappyjs` allocates the declared length.
 */
const MAX_EXPANSION = 22;

export function isXerialFramed(bytes: Buffer): boolean {
  return bytes.length >= XERIAL_HEADER_BYTES && bytes.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC);
}

/** The uncompressed length a raw block declares (its varint32 preamble). */
function declaredLength(block: Buffer): number {
  let value = 0;
  for (let i = 0; i < 5 && i < block.length; i++) {
    const byte = block[i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) return value;
  }
  throw new Error('raw snappy block has no valid length preamble');
}

function uncompressBlock(block: Buffer, maxOutputBytes: number): Buffer {
  const length = declaredLength(block);
  if (length > maxOutputBytes) throw outputTooLarge(maxOutputBytes);
  if (length > block.length * MAX_EXPANSION) {
    throw new Error(`raw snappy block of ${block.length} bytes declares ${length} uncompressed bytes, more than snappy can encode`);
  }
  return asBuffer(snappyjs.uncompress(block));
}

function uncompressXerial(bytes: Buffer, maxOutputBytes: number): Buffer {
  const blocks: Buffer[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_BYTES;
  while (pos < bytes.length) {
    if (bytes.length - pos >= XERIAL_HEADER_BYTES && bytes.subarray(pos, pos + XERIAL_MAGIC.length).equals(XERIAL_MAGIC)) {
      pos += XERIAL_HEADER_BYTES;
      continue;
    }
    if (bytes.length - pos < 4) throw new Error(`xerial snappy chunk length at byte ${pos} is truncated`);
    const length = bytes.readInt32BE(pos);
    pos += 4;
    if (length <= 0 || length > bytes.length - pos) {
      throw new Error(`xerial snappy chunk at byte ${pos - 4} must be 1-${bytes.length - pos} bytes, got ${length}`);
    }
    const block = uncompressBlock(bytes.subarray(pos, pos + length), maxOutputBytes - total);
    total += block.length;
    blocks.push(block);
    pos += length;
  }
  return Buffer.concat(blocks, total);
}

function compressXerial(bytes: Buffer): Buffer {
  const header = Buffer.alloc(XERIAL_HEADER_BYTES);
  XERIAL_MAGIC.copy(header);
  header.writeInt32BE(XERIAL_VERSION, 8);
  header.writeInt32BE(XERIAL_COMPATIBLE_VERSION, 12);
  const parts: Buffer[] = [header];
  for (let start = 0; start < bytes.length; start += XERIAL_BLOCK_BYTES) {
    const block = snappyjs.compress(bytes.subarray(start, start + XERIAL_BLOCK_BYTES));
    const length = Buffer.alloc(4);
    length.writeInt32BE(block.length);
    parts.push(length, asBuffer(block));
  }
  return Buffer.concat(parts);
}

export const snappyCodec: Codec = {
  compress: compressXerial,
  decompress: (bytes, maxOutputBytes) =>
    isXerialFramed(bytes) ? uncompressXerial(bytes, maxOutputBytes) : uncompressBlock(bytes, maxOutputBytes),
};
