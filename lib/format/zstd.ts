/**
 * Kafka's zstd codec (id 4): standard zstd frames (RFC 8878). Producers write one frame or several
 * back to back, with or without the content size (the Java client streams through zstd-jni and
 * never knows it), so decoding is streaming and frame by frame.
 *
 * - Decoding: `fzstd` (pure JS, streaming), everywhere, including the Lambda bundle. `walkFrames`
 *   first checks every frame and block header against the input, rejects windows over 128 MiB
 *   (libzstd's default `windowLogMax`, so fzstd never allocates a window a well-behaved producer
 *   would not ask for) and declared content sizes over the output limit; the output limit is then
 *   enforced chunk by chunk as fzstd emits blocks. Checksums are skipped, as the RecordBatch
 *   CRC-32C already covers these bytes.
 * - Encoding: node:zlib's `zstdCompressSync` where Node has it (22.15 and later, which includes the
 *   Lambda nodejs22.x runtime); on older Node, the `@hpcc-js/wasm-zstd` WASM build of libzstd. WASM
 *   instantiates asynchronously, so it starts loading when this module is imported and encoding
 *   zstd is unavailable until `zstdEncoderReady` settles (compression.ts turns that into
 *   UNSUPPORTED_COMPRESSION and exposes the promise as `compressionReady()`). The package is
 *   imported by a computed name so that bundles (the Lambda's) leave it out: they run on Node 22.
 *   Level 3, Kafka's default.
 */
import * as zlib from 'node:zlib';
import { Decompress } from 'fzstd';
import { outputTooLarge, type Codec } from './codec.js';

const MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC = 0x184d2a50; // low 4 bits free
const MAX_WINDOW_BYTES = 2 ** 27;
const MAX_BLOCK_BYTES = 128 * 1024;
const BLOCK_TYPE_RLE = 1;
const BLOCK_TYPE_RESERVED = 3;
const dictionaryIdBytes = [0, 1, 2, 4] as const;
const LEVEL = 3;

/**
 * Validate every frame's container against the input: headers, block sizes, the window each frame
 * needs. Throws on anything malformed, `outputTooLarge` on a declared content size over the limit.
 *
 * Frame header: magic (4, LE), descriptor (1: content-size flag bits 7-6, single segment 5,
 * reserved 3, checksum 2, dictionary-id flag 1-0), window descriptor (1, unless single segment:
 * exponent bits 7-3, mantissa 2-0), dictionary id (0/1/2/4), content size (0/1/2/4/8; 2 means
 * value + 256). Blocks: 3-byte LE header (last 0, type 2-1, size 23-3), then `size` bytes, or 1 for
 * an RLE block. A 4-byte checksum follows the last block if flagged. Skippable frames: magic
 * 0x184D2A5?, then a 4-byte LE length and that many bytes.
 */
export function walkFrames(bytes: Buffer, maxOutputBytes: number): void {
  if (bytes.length === 0) throw new Error('zstd input is empty');
  let pos = 0;
  const need = (count: number, what: string): void => {
    if (bytes.length - pos < count) throw new Error(`zstd ${what} at byte ${pos} is truncated`);
  };
  while (pos < bytes.length) {
    need(4, 'frame magic');
    const magic = bytes.readUInt32LE(pos);
    if ((magic & 0xfffffff0) >>> 0 === SKIPPABLE_MAGIC) {
      need(8, 'skippable frame header');
      const size = bytes.readUInt32LE(pos + 4);
      pos += 8;
      need(size, 'skippable frame');
      pos += size;
      continue;
    }
    if (magic !== MAGIC) throw new Error(`zstd frame at byte ${pos} must start with magic 0xfd2fb528, got 0x${magic.toString(16)}`);
    pos += 4;
    need(1, 'frame header');
    const descriptor = bytes[pos++]!;
    if ((descriptor & 0x08) !== 0) throw new Error(`zstd frame header reserved bit must be 0 at byte ${pos - 1}`);
    const singleSegment = (descriptor & 0x20) !== 0;
    const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6]!;
    let windowBytes = 0;
    if (!singleSegment) {
      need(1, 'window descriptor');
      const windowDescriptor = bytes[pos++]!;
      const base = 2 ** (10 + (windowDescriptor >> 3));
      windowBytes = base + (base / 8) * (windowDescriptor & 7);
    }
    const dictionaryBytes = dictionaryIdBytes[descriptor & 3]!;
    need(dictionaryBytes + contentSizeBytes, 'frame header');
    pos += dictionaryBytes;
    if (contentSizeBytes > 0) {
      const contentSize =
        contentSizeBytes === 1
          ? bytes[pos]!
          : contentSizeBytes === 2
            ? bytes.readUInt16LE(pos) + 256
            : contentSizeBytes === 4
              ? bytes.readUInt32LE(pos)
              : Number(bytes.readBigUInt64LE(pos));
      pos += contentSizeBytes;
      if (contentSize > maxOutputBytes) throw outputTooLarge(maxOutputBytes);
      if (singleSegment) windowBytes = contentSize;
    }
    if (windowBytes > MAX_WINDOW_BYTES) {
      throw new Error(`zstd frame needs a ${windowBytes}-byte window, more than the ${MAX_WINDOW_BYTES} allowed`);
    }
    for (let last = false; !last; ) {
      need(3, 'block header');
      const header = bytes.readUIntLE(pos, 3);
      pos += 3;
      last = (header & 1) !== 0;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === BLOCK_TYPE_RESERVED) throw new Error(`zstd block at byte ${pos - 3} has the reserved type 3`);
      if (size > MAX_BLOCK_BYTES) throw new Error(`zstd block at byte ${pos - 3} must be at most ${MAX_BLOCK_BYTES} bytes, got ${size}`);
      const payload = type === BLOCK_TYPE_RLE ? 1 : size;
      need(payload, 'block');
      pos += payload;
    }
    if ((descriptor & 0x04) !== 0) {
      need(4, 'frame checksum');
      pos += 4;
    }
  }
}

function decompress(bytes: Buffer, maxOutputBytes: number): Buffer {
  walkFrames(bytes, maxOutputBytes);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const stream = new Decompress((chunk) => {
    total += chunk.length;
    if (total > maxOutputBytes) throw outputTooLarge(maxOutputBytes);
    chunks.push(chunk);
  });
  stream.push(bytes, true);
  return Buffer.concat(chunks, total);
}

type Encode = (bytes: Buffer) => Buffer;

interface WasmZstdModule {
  readonly Zstd: { load(): Promise<{ compress(data: Uint8Array, level?: number): Uint8Array }> };
}

const WASM_PACKAGE: string = '@hpcc-js/wasm-zstd';
const builtinCompress = (zlib as { zstdCompressSync?: (bytes: Buffer) => Buffer }).zstdCompressSync;

let encode: Encode | undefined = builtinCompress === undefined ? undefined : (bytes) => builtinCompress(bytes);
let encodeUnavailable = `its WASM encoder (${WASM_PACKAGE}, for Node before 22.15) is still loading`;

async function loadWasmEncoder(): Promise<void> {
  try {
    const { Zstd } = (await import(WASM_PACKAGE)) as WasmZstdModule;
    const zstd = await Zstd.load();
    encode = (bytes) => Buffer.from(zstd.compress(bytes, LEVEL));
  } catch (error) {
    encodeUnavailable = `node:zlib has no zstd before Node 22.15 and ${WASM_PACKAGE} did not load: ${(error as Error).message}`;
  }
}

/** Settles (never rejects) once zstd encoding is available in this process, or known not to be. */
export const zstdEncoderReady: Promise<void> = encode === undefined ? loadWasmEncoder() : Promise.resolve();

export const zstdCodec: Codec = {
  get compress() {
    return encode;
  },
  get encodeUnavailableReason() {
    return encode === undefined ? encodeUnavailable : undefined;
  },
  decompress,
};
