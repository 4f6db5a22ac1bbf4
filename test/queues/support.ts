/**
 * What the queue service tests share (service.suite.ts on every store, delay-dlq-edges.test.ts):
 * a fresh topic and share group over a per-test log with a clock the test moves, and the records
 * received as the tests compare and acknowledge them.
 */
import { randomUUID } from 'node:crypto';
import { type QueueRecord, QueueService, type QueueServiceOptions, decodeReceipt } from '../../lib/queues/service.js';
import type { perTestLogs } from '../support/logs.js';
import { str, text } from '../support/logs.js';

export interface QueueSetupOptions {
  readonly partitions?: number;
  /** Records r0, r1, … produced to partition 0 before the test. */
  readonly records?: number;
  readonly config?: Record<string, unknown>;
  readonly service?: QueueServiceOptions;
}

/** A topic and a share group reading it from the earliest offset, served by a QueueService on `clock`. */
export function queueSetup(openLogs: ReturnType<typeof perTestLogs>) {
  return async (options: QueueSetupOptions = {}) => {
    const { stores, make } = await openLogs();
    const log = make();
    const topic = `queue-${randomUUID()}`;
    const group = `share-${randomUUID()}`;
    await log.createTopic(topic, options.partitions ?? 1);
    const clock = { ms: Date.now() };
    const queues = new QueueService(log, stores.metadata, { now: () => clock.ms, configCacheMs: 0, ...options.service });
    await queues.alterConfig(group, { 'share.auto.offset.reset': 'earliest', ...options.config });
    const produce = (values: readonly string[], partition = 0) =>
      log.produce(
        topic,
        values.map((value) => ({ key: null, value: text(value), partition })),
      );
    if (options.records) await produce(Array.from({ length: options.records }, (_, i) => `r${i}`));
    return { stores, make, log, topic, group, clock, queues, produce };
  };
}

/** Each record as [offset, value, delivery count]. */
export const values = (records: readonly QueueRecord[]) => records.map((r) => [r.offset, str(r.value), r.deliveryCount]);

/** An acknowledgement of each record by its receipt. */
export const byReceipt = (records: readonly QueueRecord[], type: 'accept' | 'release' | 'reject' | 'renew') =>
  records.map((r) => {
    const receipt = decodeReceipt(r.receipt, 'receipt');
    return {
      holder: receipt.holder,
      partition: receipt.partition,
      first: receipt.offset,
      last: receipt.offset,
      topicId: receipt.topicId,
      type,
    };
  });

/** The header that delays a record until `dueMs`. */
export const delayedBy = (dueMs: number) => [{ key: 'spool.deliver.at.ms', value: text(String(dueMs)) }];
