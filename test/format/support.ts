/**
 * Helpers for the format tests: a seeded PRNG (so failures reproduce), random record generators,
 * fixture loading, and an assertion that a call fails with a given SpoolError code.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { expect } from 'vitest';
import { crc32c } from '../../lib/format/crc32c.js';
import { SpoolError, type ErrorCode } from '../../lib/errors.js';
import type { RecordHeader, RecordInput } from '../../lib/format/index.js';

/** kafkajs is CommonJS and its internals are not in its exports map; tests use it as an oracle. */
export const requireCjs = createRequire(import.meta.url);

export function loadFixture(name: string): Buffer {
  const hex = readFileSync(new URL(`./fixtures/${name}.hex`, import.meta.url), 'utf8');
  return Buffer.from(hex.replace(/\s+/g, ''), 'hex');
}

/** mulberry32: tiny, fast, good enough to drive generated cases. */
export function prng(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    bool: (pTrue = 0.5) => next() < pTrue,
    bytes: (length) => {
      const out = Buffer.allocUnsafe(length);
      for (let i = 0; i < length; i++) out[i] = int(0, 255);
      return out;
    },
    pick: <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!,
  };
}

export interface Random {
  next(): number;
  int(min: number, max: number): number;
  bool(pTrue?: number): boolean;
  bytes(length: number): Buffer;
  pick<T>(items: readonly T[]): T;
}

const headerKeys = ['trace-id', '', 'ключ', 'clé-é', '键', '🎉 emoji', 'a'.repeat(300), 'content-type'];

/** Null, empty or random bytes (sometimes long enough for multi-byte length varints). */
export function randomBytesOrNull(random: Random): Buffer | null {
  const roll = random.next();
  if (roll < 0.15) return null;
  if (roll < 0.3) return Buffer.alloc(0);
  if (roll < 0.35) return random.bytes(random.int(128, 20_000));
  return random.bytes(random.int(1, 100));
}

export function randomRecord(random: Random, baseTimestampMs: number): RecordInput {
  const headers: RecordHeader[] = [];
  const headerCount = random.bool(0.5) ? 0 : random.int(1, 4);
  for (let i = 0; i < headerCount; i++) {
    headers.push({ key: random.pick(headerKeys), value: randomBytesOrNull(random) });
  }
  return {
    key: randomBytesOrNull(random),
    value: randomBytesOrNull(random),
    headers,
    // Not monotonic: later records may be older than the first (negative deltas).
    timestampMs: baseTimestampMs + random.int(-100_000, 100_000),
  };
}

/** Recompute the CRC of the batch at `pos` after a test has edited it on purpose. */
export function fixCrc(batch: Buffer, pos = 0): Buffer {
  const end = pos + 12 + batch.readInt32BE(pos + 8);
  batch.writeUInt32BE(crc32c(batch.subarray(pos + 21, end)) >>> 0, pos + 17);
  return batch;
}

/** Run `fn`, expect a SpoolError with `code` whose message matches `message`; return it. */
export function expectSpoolError(fn: () => unknown, code: ErrorCode, message?: RegExp | string): SpoolError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'expected a SpoolError to be thrown').toBeInstanceOf(SpoolError);
  const error = thrown as SpoolError;
  expect(error.code, error.message).toBe(code);
  if (message !== undefined) expect(error.message).toMatch(message);
  return error;
}

/** XOR one byte in place (index access is `number | undefined` under noUncheckedIndexedAccess). */
export function flipByte(buf: Buffer, at: number, mask: number): void {
  buf[at] = buf[at]! ^ mask;
}

/** What a call did: 'ok', or the SpoolError code. Any other exception fails the test. */
export function outcome(fn: () => unknown): 'ok' | ErrorCode {
  try {
    fn();
    return 'ok';
  } catch (error) {
    if (error instanceof SpoolError) return error.code;
    throw new Error(`expected a SpoolError, got ${String(error)}`, { cause: error });
  }
}
