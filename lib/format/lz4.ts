/**
 * Kafka's lz4 codec (id 3): one standard LZ4 frame per records section (KIP-57; RecordBatch v2
 * never has the old magic-0/1 header-checksum quirk). Blocks are compressed and decompressed by
 * `lz4js` (pure JS, so it runs in the Lambda bundle too, and as fast as the napi binding on
 * record-sized input); this module owns the frame container around them, because lz4js's own
 * framing is not what Kafka needs on either side:
 *
 * - writing: lz4js marks its frames as *linked* blocks of 4 MiB, and the Java client refuses
 *   dependent blocks ("Dependent block stream is unsupported", Lz4BlockOutputStream.FLG). We write
 *   what the Java client writes: independent 64 KiB blocks, no checksums, no content size.
 * - reading: lz4js's frame reader trusts every length (a block size past the end of the input spins
 *   on `undefined` for up to 2^31 iterations), misreads frames with block checksums (it skips them
 *   before the block, not after) and checks no output limit. `walkFrame` validates the whole
 *   container and bounds the output, then lz4js decodes block by block into one buffer of that
 *   size. Linked and independent blocks, block and content checksums and a content size are
 *   accepted (as librdkafka, sarama, kafka-python and Java write them); checksums are not
 *   verified, since the RecordBatch CRC-32C already covers these bytes.
 *
 * Frame layout (lz4 frame format 1.6.x), little-endian:
 *
 * | field            | bytes | meaning                                                              |
 * |------------------|-------|----------------------------------------------------------------------|
 * | magic            | 4     | 0x184D2204                                                           |
 * | FLG              | 1     | version (bits 7-6, = 01), block independence (5), block checksum (4), |
 * |                  |       | content size (3), content checksum (2), reserved (1), dict id (0)     |
 * | BD               | 1     | block max size in bits 6-4: 4 = 64 KiB, 5 = 256 KiB, 6 = 1 MiB, 7 = 4 MiB |
 * | content size     | 0/8   | uint64, if FLG bit 3                                                 |
 * | header checksum  | 1     | (xxh32(FLG..content size) >> 8) & 0xff                               |
 * | blocks, repeated | 4 + n | size (bit 31 set = stored uncompressed), data, then a 4-byte checksum |
 * |                  |       | if FLG bit 4; a size of 0 ends the blocks                            |
 * | content checksum | 0/4   | xxh32 of the content, if FLG bit 2                                   |
 */
import lz4js from 'lz4js';
import { outputTooLarge, type Codec } from './codec.js';

const MAGIC = 0x184d2204;
const FLG_VERSION_MASK = 0xc0;
const FLG_VERSION_01 = 0x40;
const FLG_BLOCK_CHECKSUM = 0x10;
const FLG_CONTENT_SIZE = 0x08;
const FLG_CONTENT_CHECKSUM = 0x04;
const FLG_RESERVED = 0x02;
const FLG_DICT_ID = 0x01;
const BD_RESERVED = 0x8f;
const BLOCK_UNCOMPRESSED = 0x80000000;
const maxBlockBytesById: Readonly<Record<number, number>> = { 4: 0x10000, 5: 0x40000, 6: 0x100000, 7: 0x400000 };
/** A byte of LZ4 input produces at most 255 bytes of output (one match-length extension byte). */
const MAX_EXPANSION = 255;

/** Java's Lz4BlockOutputStream header: FLG 0x60 (version 01, independent blocks), BD 0x40 (64 KiB), its checksum. */
const WRITE_HEADER = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]);
const WRITE_BLOCK_BYTES = 0x10000;

interface FrameBlock {
  /** Where the block's data starts in the frame, and its length there. */
  readonly start: number;
  readonly size: number;
  readonly stored: boolean;
}

interface FrameSummary {
  readonly blocks: readonly FrameBlock[];
  readonly maxBlockBytes: number;
  /** An upper bound on the decompressed size: the declared content size, else the blocks' maximum expansion. */
  readonly maxOutputBytes: number;
}

/** Validate the container (every length inside the input) and bound the output. Throws on anything malformed. */
export function walkFrame(bytes: Buffer, maxOutputBytes: number): FrameSummary {
  if (bytes.length < 7) throw new Error(`lz4 frame must be at least 7 bytes, got ${bytes.length}`);
  const magic = bytes.readUInt32LE(0);
  if (magic !== MAGIC) throw new Error(`lz4 frame magic must be 0x184d2204, got 0x${magic.toString(16)}`);
  const flg = bytes[4]!;
  const bd = bytes[5]!;
  if ((flg & FLG_VERSION_MASK) !== FLG_VERSION_01) throw new Error(`lz4 frame version must be 01, got FLG 0x${flg.toString(16)}`);
  if ((flg & FLG_RESERVED) !== 0 || (bd & BD_RESERVED) !== 0) throw new Error('lz4 frame reserved bits must be 0');
  if ((flg & FLG_DICT_ID) !== 0) throw new Error('lz4 frame must not need a dictionary (Kafka never sets one)');
  const maxBlockBytes = maxBlockBytesById[(bd >> 4) & 7];
  if (maxBlockBytes === undefined) throw new Error(`lz4 frame block size id must be 4-7, got ${(bd >> 4) & 7}`);
  let pos = 6;
  let contentSize: number | undefined;
  if ((flg & FLG_CONTENT_SIZE) !== 0) {
    if (bytes.length < pos + 9) throw new Error('lz4 frame content size is truncated');
    const declared = bytes.readBigUInt64LE(pos);
    if (declared > BigInt(maxOutputBytes)) throw outputTooLarge(maxOutputBytes);
    contentSize = Number(declared);
    pos += 8;
  }
  pos += 1; // header checksum
  const blockChecksumBytes = (flg & FLG_BLOCK_CHECKSUM) !== 0 ? 4 : 0;
  const blocks: FrameBlock[] = [];
  let bound = 0;
  for (;;) {
    if (bytes.length - pos < 4) throw new Error(`lz4 block size at byte ${pos} is truncated`);
    const word = bytes.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break;
    const stored = word >= BLOCK_UNCOMPRESSED;
    const size = stored ? word - BLOCK_UNCOMPRESSED : word;
    if (size > maxBlockBytes) throw new Error(`lz4 block at byte ${pos - 4} must be at most ${maxBlockBytes} bytes, got ${size}`);
    if (size + blockChecksumBytes > bytes.length - pos) throw new Error(`lz4 block at byte ${pos - 4} runs past the end of the frame`);
    blocks.push({ start: pos, size, stored });
    bound += stored ? size : Math.min(maxBlockBytes, size * MAX_EXPANSION);
    pos += size + blockChecksumBytes;
  }
  if ((flg & FLG_CONTENT_CHECKSUM) !== 0) pos += 4;
  if (pos !== bytes.length) {
    throw new Error(`lz4 frame must end at byte ${bytes.length}, its end mark and checksum end at ${pos}`);
  }
  return { blocks, maxBlockBytes, maxOutputBytes: contentSize ?? bound };
}

function decompress(bytes: Buffer, maxOutputBytes: number): Buffer {
  const frame = walkFrame(bytes, maxOutputBytes);
  // One buffer for the whole frame, so a linked block's matches reach back into earlier blocks.
  // lz4js drops writes past the end of `out` but keeps counting, so an overrun shows in the index.
  const out = Buffer.alloc(Math.min(frame.maxOutputBytes, maxOutputBytes));
  let written = 0;
  for (const block of frame.blocks) {
    const start = written;
    if (block.stored) {
      if (written + block.size > out.length) written += block.size;
      else written += bytes.copy(out, written, block.start, block.start + block.size);
    } else {
      written = lz4js.decompressBlock(bytes, out, block.start, block.size, written);
    }
    if (written - start > frame.maxBlockBytes) {
      throw new Error(`lz4 block at byte ${block.start - 4} decompresses to more than ${frame.maxBlockBytes} bytes`);
    }
    if (written > out.length) {
      if (out.length === maxOutputBytes) throw outputTooLarge(maxOutputBytes);
      throw new Error(`lz4 blocks decompress to more than the ${frame.maxOutputBytes} bytes their frame declares`);
    }
  }
  return out.subarray(0, written);
}

function compress(bytes: Buffer): Buffer {
  const hashTable = new Uint32Array(1 << 16);
  const scratch = new Uint8Array(lz4js.compressBound(WRITE_BLOCK_BYTES));
  const parts: Buffer[] = [WRITE_HEADER];
  for (let start = 0; start < bytes.length; start += WRITE_BLOCK_BYTES) {
    const length = Math.min(WRITE_BLOCK_BYTES, bytes.length - start);
    hashTable.fill(0); // a fresh table per block keeps every match inside its block: independent blocks
    const compressed = lz4js.compressBlock(bytes, scratch, start, length, hashTable);
    const sizeWord = Buffer.alloc(4);
    if (compressed === 0 || compressed >= length) {
      sizeWord.writeUInt32LE((BLOCK_UNCOMPRESSED | length) >>> 0);
      parts.push(sizeWord, bytes.subarray(start, start + length));
    } else {
      sizeWord.writeUInt32LE(compressed);
      parts.push(sizeWord, Buffer.from(scratch.subarray(0, compressed)));
    }
  }
  parts.push(Buffer.alloc(4)); // end mark
  return Buffer.concat(parts);
}

export const lz4Codec: Codec = { compress, decompress };
