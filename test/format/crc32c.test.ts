import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crc32c, nativeCrc32c, portableCrc32c } from '../../lib/format/crc32c.js';

describe('format > CRC-32C', () => {
  it('gives the standard check value for "123456789" with either implementation', () => {
    const input = Buffer.from('123456789');
    expect(portableCrc32c(input)).toBe(0xe3069283);
    expect(nativeCrc32c?.(input)).toBe(0xe3069283); // the native binding loads on this machine
    expect(crc32c(input)).toBe(0xe3069283);
  });

  it('agrees between the native and portable implementations on random inputs and regions', () => {
    for (let i = 0; i < 200; i++) {
      const bytes = randomBytes(i * 37);
      expect(portableCrc32c(bytes)).toBe(nativeCrc32c!(bytes));
      const start = Math.floor(bytes.length / 3);
      expect(crc32c(bytes, start, bytes.length - 1 > start ? bytes.length - 1 : bytes.length)).toBe(
        portableCrc32c(bytes.subarray(start, bytes.length - 1 > start ? bytes.length - 1 : bytes.length)),
      );
    }
  });
});
