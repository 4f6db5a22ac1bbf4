import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compress, compressionFromId, compressionIds, decompress, type Compression } from '../../lib/format/index.js';
import { expectSpoolError, prng } from './support.js';

describe('format > compression', () => {
  it('round-trips gzip and passes none through', () => {
    const bytes = prng(3).bytes(10_000);
    expect(decompress('gzip', compress('gzip', bytes)).equals(bytes)).toBe(true);
    expect(compress('none', bytes)).toBe(bytes);
    expect(decompress('none', bytes)).toBe(bytes);
  });

  it('reads gzip written by another implementation (multi-member streams included)', () => {
    const twoMembers = Buffer.concat([gzipSync(Buffer.from('hello ')), gzipSync(Buffer.from('world'))]);
    expect(decompress('gzip', twoMembers).toString()).toBe('hello world');
  });

  it('decodes every codec Kafka defines: none of them is UNSUPPORTED_COMPRESSION for reading', () => {
    for (const name of ['snappy', 'lz4', 'zstd'] as const) {
      expectSpoolError(
        () => decompress(name, Buffer.from('x')),
        'CORRUPT_RECORD',
        new RegExp(`^${name} records section does not decompress`),
      );
    }
  });

  it('rejects an unknown codec name as an invalid argument', () => {
    expectSpoolError(() => compress('brotli' as Compression, Buffer.alloc(0)), 'INVALID_ARGUMENT', /got "brotli"/);
  });

  it('maps Kafka codec ids both ways and leaves 5-7 undefined', () => {
    for (const [name, id] of Object.entries(compressionIds)) expect(compressionFromId(id)).toBe(name);
    expect(compressionIds).toEqual({ none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 });
    expect([5, 6, 7].map(compressionFromId)).toEqual([undefined, undefined, undefined]);
  });

  it('reports malformed gzip as a corrupt record', () => {
    expectSpoolError(() => decompress('gzip', Buffer.from('not gzip')), 'CORRUPT_RECORD', /gzip records section does not decompress/);
    const truncated = compress('gzip', Buffer.alloc(1000, 1)).subarray(0, 15);
    expectSpoolError(() => decompress('gzip', truncated), 'CORRUPT_RECORD');
  });

  it('refuses to inflate beyond maxOutputBytes (decompression bombs)', () => {
    const bomb = compress('gzip', Buffer.alloc(1_000_000));
    expect(bomb.length).toBeLessThan(2000);
    expectSpoolError(() => decompress('gzip', bomb, 100_000), 'RECORD_TOO_LARGE', /at most 100000 bytes/);
    expect(decompress('gzip', bomb, 1_000_000).length).toBe(1_000_000);
  });
});
