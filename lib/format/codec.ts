/**
 * The contract between `compression.ts` (the registry, errors, limits) and the codec modules beside
 * it (`snappy.ts`, `lz4.ts`, `zstd.ts`). A codec throws anything on malformed input; `decompress` in
 * compression.ts wraps it into CORRUPT_RECORD. A codec that would produce more than
 * `maxOutputBytes` throws `outputTooLarge()` instead, which becomes RECORD_TOO_LARGE (the same
 * `ERR_BUFFER_TOO_LARGE` code node:zlib uses for its `maxOutputLength`, so gzip needs no wrapper).
 */
export interface Codec {
  /**
   * Compress a records section. Absent when this process can decode the codec but not encode it
   * (lz4 without its native binding, zstd before its encoder has loaded): see compression.ts.
   */
  readonly compress?: (bytes: Buffer) => Buffer;
  /** Why `compress` is absent, for the UNSUPPORTED_COMPRESSION message. */
  readonly encodeUnavailableReason?: string;
  /** Throws anything on malformed input, `outputTooLarge()` past `maxOutputBytes`. */
  decompress(bytes: Buffer, maxOutputBytes: number): Buffer;
}

export const OUTPUT_TOO_LARGE = 'ERR_BUFFER_TOO_LARGE';

export function outputTooLarge(maxOutputBytes: number): Error {
  return Object.assign(new RangeError(`output exceeds ${maxOutputBytes} bytes`), { code: OUTPUT_TOO_LARGE });
}

/** Copy a codec library's Uint8Array into a Buffer without a second copy when it already owns its memory. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
