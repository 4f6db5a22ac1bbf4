/** Helpers shared by the reliability harnesses: seeded choices, reading a topic back, retrying like a client. */
import { SpoolError } from '../../lib/errors.js';
import { decodeRecordBatch, txnMarkerType } from '../../lib/format/record-batch.js';
import type { Log } from '../../lib/log/index.js';
import { seededRandom } from '../../bench/support/latency-model.js';
import type { ReadRecord, StoredRecord } from './checker.js';

export interface Choices {
  readonly next: () => number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

export function choices(seed: number): Choices {
  const next = seededRandom(seed);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return { next, int, pick: (items) => items[int(0, items.length - 1)]! };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Every record of each partition, read from offset 0 to the high watermark. */
export async function readPartitions(log: Log, topic: string, partitions: number): Promise<StoredRecord[][]> {
  const out: StoredRecord[][] = [];
  for (let partition = 0; partition < partitions; partition++) {
    const records: StoredRecord[] = [];
    for (let offset = 0; ; ) {
      const fetched = await log.fetch(topic, partition, offset, { maxRecords: 10_000, maxBytes: 64 * 1024 * 1024 });
      for (const record of fetched.records)
        records.push({ offset: record.offset, key: record.key?.toString('utf8') ?? null, value: record.value?.toString('utf8') ?? null });
      if (fetched.nextOffset >= fetched.highWatermark) break;
      offset = fetched.nextOffset;
    }
    out.push(records);
  }
  return out;
}

/** What a read_committed reader is handed reading each partition from 0 to its last stable offset, in order. */
export async function readCommitted(log: Log, topic: string, partitions: number): Promise<ReadRecord[]> {
  const view: ReadRecord[] = [];
  for (let partition = 0; partition < partitions; partition++) {
    for (let offset = 0; ; ) {
      const fetched = await log.fetch(topic, partition, offset, {
        maxRecords: 10_000,
        maxBytes: 64 * 1024 * 1024,
        isolation: 'read_committed',
      });
      for (const record of fetched.records) view.push({ partition, offset: record.offset, value: record.value?.toString('utf8') ?? null });
      if (fetched.nextOffset <= offset) break;
      offset = fetched.nextOffset;
    }
  }
  return view;
}

/**
 * Every record of each partition as stored, batch by batch from offset 0 to the high watermark:
 * transaction markers (control records, which take an offset) included, and each record with its
 * batch's producer id and transactional flag, as the transaction checks need them. Aborted and open
 * transactions' records are included too (this is the log, not a reader's view).
 */
export async function readPartitionsWithMarkers(log: Log, topic: string, partitions: number): Promise<StoredRecord[][]> {
  const out: StoredRecord[][] = [];
  for (let partition = 0; partition < partitions; partition++) {
    const records: StoredRecord[] = [];
    for (let offset = 0; ; ) {
      const read = await log.readBatches(topic, partition, offset, { maxBytes: 64 * 1024 * 1024 });
      for (const batch of read.batches) {
        const { header, records: decoded } = decodeRecordBatch(batch);
        for (const record of decoded) {
          if (record.offset < offset) continue;
          const batchOf = { producerId: header.producerId, transactional: header.isTransactional };
          records.push(
            header.isControl
              ? { offset: record.offset, key: null, value: null, ...batchOf, control: txnMarkerType(record.key) ?? 'unknown' }
              : {
                  offset: record.offset,
                  key: record.key?.toString('utf8') ?? null,
                  value: record.value?.toString('utf8') ?? null,
                  ...batchOf,
                },
          );
        }
      }
      if (read.endOffset >= read.highWatermark || read.endOffset <= offset) break;
      offset = read.endOffset;
    }
    out.push(records);
  }
  return out;
}

/**
 * Calls `attempt` until it succeeds, as a client retries a request: again after any retriable
 * SpoolError (counted by code in `retries`), at once on anything else.
 */
export async function retrying<T>(
  retries: Record<string, number>,
  random: () => number,
  attempt: () => Promise<T>,
  maxAttempts = 500,
): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof SpoolError) || !error.retriable || tries >= maxAttempts) throw error;
      retries[error.code] = (retries[error.code] ?? 0) + 1;
      await sleep(1 + Math.floor(random() * 8));
    }
  }
}

/** `--name value` flags of a script, as numbers, with defaults. */
export function numberFlags<T extends Record<string, number>>(argv: readonly string[], defaults: T): T {
  const out: Record<string, number> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!.replace(/^--/, '');
    if (!(name in defaults))
      throw new Error(
        `unknown flag ${argv[i]}; expected one of ${Object.keys(defaults)
          .map((n) => `--${n}`)
          .join(', ')}`,
      );
    const value = Number(argv[++i]);
    if (!Number.isFinite(value)) throw new Error(`--${name} needs a number, got ${JSON.stringify(argv[i])}`);
    out[name] = value;
  }
  return out as T;
}
