/**
 * Compression codecs for the `records` section of a RecordBatch, keyed by Kafka's codec id
 * (attributes bits 0-2). Synchronous: batches are small and the produce path stays simple.
 *
 * Every codec Kafka defines decodes everywhere, the Lambda bundle included: gzip is node:zlib,
 * snappy (`snappy.ts`), lz4 (`lz4.ts`) and zstd (`zstd.ts`) are pure JS. Encoding is the same
 * except for zstd on Node before 22.15, whose WASM encoder loads asynchronously after import: until
 * `compressionReady()` resolves, encoding zstd there fails with UNSUPPORTED_COMPRESSION (the batch
 * is fine, we are the ones lacking), never with CORRUPT_RECORD. `supportedCompressions` is a live
 * binding that gains zstd at that moment.
 *
 * Adding a codec is one entry in `codecs`; ids, error messages and the list of supported codecs
 * follow from the table.
 */
import { constants as bufferConstants } from 'node:buffer';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SpoolError } from '../errors.js';
import { OUTPUT_TOO_LARGE, type Codec } from './codec.js';
import { lz4Codec } from './lz4.js';
import { snappyCodec } from './snappy.js';
import { zstdCodec, zstdEncoderReady } from './zstd.js';

export type { Codec } from './codec.js';
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

const codecs: Readonly<Record<Compression, Codec>> = {
  none: {
    compress: (bytes) => bytes,
    decompress: (bytes) => bytes,
  },
  gzip: {
    compress: (bytes) => gzipSync(bytes),
    decompress: (bytes, maxOutputBytes) => gunzipSync(bytes, { maxOutputLength: maxOutputBytes }),
  },
  snappy: snappyCodec,
  lz4: lz4Codec,
  zstd: zstdCodec,
};

/** The largest decompressed payload allowed unless the caller says otherwise (Node's Buffer limit). */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = bufferConstants.MAX_LENGTH;

function encodable(): readonly Compression[] {
  return compressionById.filter((name) => codecs[name].compress !== undefined);
}

/** The codecs this process can encode now (every one decodes). Live: zstd may join after `compressionReady()`. */
export let supportedCompressions: readonly Compression[] = encodable();

const ready: Promise<void> = zstdEncoderReady.then(() => {
  supportedCompressions = encodable();
});

/**
 * Resolves (never rejects) once every encoder this process can have has loaded: today only zstd on
 * Node before 22.15. Await it before producing zstd batches right after start-up.
 */
export function compressionReady(): Promise<void> {
  return ready;
}

/** Whether this process can encode `compression` now. */
export function isCompressionSupported(compression: Compression): boolean {
  return Object.hasOwn(codecs, compression) && codecs[compression].compress !== undefined;
}

/** The compression for a codec id, or `undefined` for ids Kafka does not define (5-7). */
export function compressionFromId(id: number): Compression | undefined {
  return compressionById[id];
}

function codecFor(compression: Compression): Codec {
  if (!Object.hasOwn(codecs, compression)) {
    throw new SpoolError(
      'INVALID_ARGUMENT',
      `compression must be one of ${compressionById.join(', ')}, got ${JSON.stringify(compression)}`,
    );
  }
  return codecs[compression];
}

function encoderFor(compression: Compression): (bytes: Buffer) => Buffer {
  const codec = codecFor(compression);
  if (codec.compress !== undefined) return codec.compress;
  throw new SpoolError(
    'UNSUPPORTED_COMPRESSION',
    `compression ${compression} cannot be encoded in this process: ${codec.encodeUnavailableReason ?? 'no encoder'}; ` +
      `supported: ${supportedCompressions.join(', ')}`,
    { details: { compression } },
  );
}

/** Throws UNSUPPORTED_COMPRESSION (or INVALID_ARGUMENT for an unknown name) unless `compression` can be encoded. */
export function assertCompressionSupported(compression: Compression): void {
  encoderFor(compression);
}

export function compress(compression: Compression, bytes: Buffer): Buffer {
  return encoderFor(compression)(bytes);
}

/**
 * Decompress a batch's records section. Malformed input is CORRUPT_RECORD; output larger than
 * `maxOutputBytes` is RECORD_TOO_LARGE (a guard against decompression bombs).
 */
export function decompress(compression: Compression, bytes: Buffer, maxOutputBytes: number = DEFAULT_MAX_DECOMPRESSED_BYTES): Buffer {
  const codec = codecFor(compression);
  try {
    return codec.decompress(bytes, maxOutputBytes);
  } catch (error) {
    if ((error as { code?: unknown }).code === OUTPUT_TOO_LARGE) {
      throw new SpoolError(
        'RECORD_TOO_LARGE',
        `${compression} records section must decompress to at most ${maxOutputBytes} bytes, got more`,
        { cause: error, details: { compression, maxOutputBytes } },
      );
    }
    throw new SpoolError('CORRUPT_RECORD', `${compression} records section does not decompress: ${(error as Error).message}`, {
      cause: error,
      details: { compression },
    });
  }
}
