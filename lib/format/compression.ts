/**
 * Compression codecs for the `records` section of a RecordBatch, keyed by Kafka's codec id
 * (attributes bits 0-2). Synchronous: batches are small and the produce path stays simple.
 *
 * Adding a codec is one entry in `codecs` (for example an npm snappy/lz4/zstd binding); everything
 * else (ids, error messages, the list of supported codecs) follows from the table. A codec that Kafka
 * defines but Spool cannot run yet fails with UNSUPPORTED_COMPRESSION, never with CORRUPT_RECORD:
 * the batch is fine, we are the ones lacking. Kafka's lz4 codec is the LZ4 *frame* format and its
 * zstd is a standard zstd frame; snappy is xerial-framed snappy (Java) or raw snappy (other clients).
 */
import { constants as bufferConstants } from 'node:buffer';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SpoolError } from '../errors.js';

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

/** Kafka's codec ids, attributes bits 0-2. */
export const compressionIds: Readonly<Record<Compression, number>> = {
  none: 0,
  gzip: 1,
  snappy: 2,
  lz4: 3,
  zstd: 4,
};

const compressionById: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

export interface Codec {
  compress(bytes: Buffer): Buffer;
  /** Throws anything on malformed input (wrapped into CORRUPT_RECORD by `decompress`). */
  decompress(bytes: Buffer, maxOutputBytes: number): Buffer;
}

const codecs: Readonly<Record<Compression, Codec | undefined>> = {
  none: {
    compress: (bytes) => bytes,
    decompress: (bytes) => bytes,
  },
  gzip: {
    compress: (bytes) => gzipSync(bytes),
    decompress: (bytes, maxOutputBytes) => gunzipSync(bytes, { maxOutputLength: maxOutputBytes }),
  },
  snappy: undefined,
  lz4: undefined,
  zstd: undefined,
};

/** The largest decompressed payload allowed unless the caller says otherwise (Node's Buffer limit). */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = bufferConstants.MAX_LENGTH;

export const supportedCompressions: readonly Compression[] = compressionById.filter(
  (name) => codecs[name] !== undefined,
);

export function isCompressionSupported(compression: Compression): boolean {
  return codecs[compression] !== undefined;
}

/** The compression for a codec id, or `undefined` for ids Kafka does not define (5-7). */
export function compressionFromId(id: number): Compression | undefined {
  return compressionById[id];
}

function codecFor(compression: Compression): Codec {
  const codec = Object.hasOwn(codecs, compression) ? codecs[compression] : undefined;
  if (codec !== undefined) return codec;
  if (!Object.hasOwn(compressionIds, compression)) {
    throw new SpoolError(
      'INVALID_ARGUMENT',
      `compression must be one of ${compressionById.join(', ')}, got ${JSON.stringify(compression)}`,
    );
  }
  throw new SpoolError(
    'UNSUPPORTED_COMPRESSION',
    `compression ${compression} is not supported yet; supported: ${supportedCompressions.join(', ')}`,
    { details: { compression } },
  );
}

/** Throws UNSUPPORTED_COMPRESSION (or INVALID_ARGUMENT for an unknown name) unless `compression` can run. */
export function assertCompressionSupported(compression: Compression): void {
  codecFor(compression);
}

export function compress(compression: Compression, bytes: Buffer): Buffer {
  return codecFor(compression).compress(bytes);
}

/**
 * Decompress a batch's records section. Malformed input is CORRUPT_RECORD; output larger than
 * `maxOutputBytes` is RECORD_TOO_LARGE (a guard against decompression bombs).
 */
export function decompress(
  compression: Compression,
  bytes: Buffer,
  maxOutputBytes: number = DEFAULT_MAX_DECOMPRESSED_BYTES,
): Buffer {
  const codec = codecFor(compression);
  try {
    return codec.decompress(bytes, maxOutputBytes);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new SpoolError(
        'RECORD_TOO_LARGE',
        `${compression} records section must decompress to at most ${maxOutputBytes} bytes, got more`,
        { cause: error, details: { compression, maxOutputBytes } },
      );
    }
    throw new SpoolError(
      'CORRUPT_RECORD',
      `${compression} records section does not decompress: ${(error as Error).message}`,
      { cause: error, details: { compression } },
    );
  }
}
