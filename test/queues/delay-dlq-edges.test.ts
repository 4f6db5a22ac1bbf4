/**
 * Edges of delayed delivery and dead letters found by review: delivery times beyond what the
 * header holds, a reset in the millisecond its state began, a plain write meeting a transaction on
 * the share partition's item, a dead-letter topic auto-created by another instance meanwhile, and
 * the delay index entries one change writes. Embedded store, deterministic clock, as
 * test/queues/service.suite.ts.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { fromJsonRecords } from '../../lib/http/records.js';
import type { Log } from '../../lib/log/index.js';
import { dueMsOf } from '../../lib/queues/delay.js';
import { QueueService } from '../../lib/queues/service.js';
import { perTestLogs, text } from '../support/logs.js';
import { byReceipt, delayedBy, queueSetup, values } from './support.js';
import { embedded } from '../support/stores.js';

const openLogs = perTestLogs(() => embedded);

const setup = queueSetup(openLogs);

describe('queues > delayed delivery, edges', () => {
  it('refuses a delivery time the header cannot hold, or a day its month has not; takes the latest it can', async () => {
    const nowMs = Date.now();
    for (const [record, field] of [
      [{ value: 'at', deliver_at: 1_000_000_000_000_000 }, 'records[0].deliver_at'],
      [{ value: 'after', deliver_after_ms: 999_999_999_999_999 }, 'records[0].deliver_after_ms'],
      [{ value: 'after-max', deliver_after_ms: Number.MAX_SAFE_INTEGER }, 'records[0].deliver_after_ms'],
      [{ value: 'no such day', deliver_at: '2026-02-30T00:00:00Z' }, 'records[0].deliver_at'],
    ] as const)
      expect(() => fromJsonRecords([record], 'utf8', nowMs)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field } }),
      );
    // What the header says is what the share group reads: a due time in the future, to the last ms it holds.
    const [latest, leap] = fromJsonRecords(
      [
        { value: 'latest', deliver_at: 999_999_999_999_999 },
        { value: 'leap day', deliver_at: '2028-02-29T12:00:00+01:00' },
      ],
      'utf8',
      nowMs,
    );
    expect(dueMsOf({ timestampMs: nowMs, headers: latest!.headers ?? [] })).toBe(999_999_999_999_999);
    expect(dueMsOf({ timestampMs: nowMs, headers: leap!.headers ?? [] })).toBe(Date.UTC(2028, 1, 29, 11));
  });

  it('the same, end to end: a receive does not hand out a record produced with deliver_at far in the future', async () => {
    const { log, queues, group, topic } = await setup();
    const [record] = fromJsonRecords([{ value: 'year 33658', deliver_at: 999_999_999_999_999 }], 'utf8');
    await log.produce(topic, [{ ...record!, partition: 0 }]);
    expect(values((await queues.receive(group, topic)).records)).toEqual([]);
  });

  it('a reset forgets what the old state deferred, even when it comes in the millisecond the state began (delay epochs are times)', async () => {
    const { log, queues, group, topic, clock } = await setup();
    const t0 = clock.ms;
    await log.produce(topic, [{ key: null, value: text('before the reset'), partition: 0, headers: delayedBy(t0 + 1000) }]);
    expect((await queues.receive(group, topic)).records).toEqual([]); // deferred, entry of epoch t0
    await queues.resetStart(group, await log.requireTopic(topic), 0, 1); // new state, epoch t0 again
    // Something the new state defers gives it a next due time again.
    await log.produce(topic, [{ key: null, value: text('after the reset'), partition: 0, headers: delayedBy(t0 + 500) }]);
    expect((await queues.receive(group, topic)).records).toEqual([]);
    clock.ms = t0 + 2000;
    // Only offset 1: offset 0 is below the reset start, and its entry is the old state's.
    expect(values((await queues.receive(group, topic, { maxRecords: 10 })).records)).toEqual([[1, 'after the reset', 1]]);
  });
});

describe('review > share partition store', () => {
  it('retries a plain write refused for a concurrent transaction on the item (DynamoDB TransactionConflictException, mapped to a retriable CONFLICT)', async () => {
    const { stores, queues, group, topic, log } = await setup();
    await log.produce(topic, [{ key: null, value: text('r0'), partition: 0 }]);
    const received = await queues.receive(group, topic);
    // A returnDue or defer transaction on the same share partition item is in flight: DynamoDB
    // rejects the PutItem with TransactionConflictException, which lib/storage/aws-errors.ts maps to
    // SpoolError('CONFLICT', retriable) ("nothing was written").
    let refused = false;
    stores.metadata.beforeWrite = (op) => {
      if (!refused && op.key.pk.startsWith('share') && op.condition?.kind === 'match') {
        refused = true;
        throw new SpoolError('CONFLICT', 'PutItem met a concurrent transaction on the same item', { retriable: true });
      }
    };
    expect(await queues.acknowledge(group, topic, byReceipt(received.records, 'accept'))).toEqual([{ status: 'ok' }]);
  });
});

describe('queues > dead letters, edges', () => {
  it('writes the dead letter when another instance auto-created the dead-letter topic meanwhile (TOPIC_ALREADY_EXISTS is not a failed write)', async () => {
    const dlq = `dlq.${randomUUID()}`;
    const { stores, log, group, topic, clock } = await setup({ config: { 'errors.deadletterqueue.topic.name': dlq } });
    await log.produce(topic, [{ key: null, value: text('r0'), partition: 0 }]);
    // This instance looked the topic up just before another instance created it (auto-create on both).
    let looked = false;
    const racing: Log = Object.assign(Object.create(log) as Log, {
      cachedTopic: async (name: string) => {
        if (name === dlq && !looked) {
          looked = true;
          await log.createTopic(dlq, 1, { 'errors.deadletterqueue.group.enable': true, 'message.timestamp.type': 'CreateTime' });
          return undefined;
        }
        return log.cachedTopic(name);
      },
    });
    const lines: string[] = [];
    const queues = new QueueService(racing, stores.metadata, {
      now: () => clock.ms,
      configCacheMs: 0,
      autoCreateDeadLetterTopics: true,
      logger: { log: (level, message, fields) => lines.push(`${level} ${message} ${JSON.stringify(fields)}`) },
    });
    const received = await queues.receive(group, topic);
    expect(await queues.acknowledge(group, topic, byReceipt(received.records, 'reject'))).toEqual([{ status: 'ok' }]);
    expect(lines).toEqual([]);
    const { records } = await log.fetch(dlq, 0, 0, { maxRecords: 10, maxBytes: 1 << 20 });
    expect(records).toHaveLength(1);
  });
});

describe('queues > delay index entries per change', () => {
  it('caps the delay index entries a change writes, not the DEFER acknowledgements: one DEFER over ranges of different delivery counts is several entries', async () => {
    const { acknowledge, acquire, initialState } = await import('../../lib/queues/share-partition.js');
    const { deferrals } = await import('../../lib/queues/delay.js');
    const { maxDelayEntries } = await import('../../lib/queues/store.js');
    const limits = { lockMs: 1000, deliveryLimit: 5, maxInFlight: 1000 };
    // 2 × maxDelayEntries records; the even ones were handed out once before (released), the odd ones never.
    const n = 2 * maxDelayEntries;
    let state = acquire(initialState(0), { member: 'x', maxRecords: n, nowMs: 0, logStartOffset: 0, logEndOffset: n, ...limits }).next;
    const evens = Array.from({ length: maxDelayEntries }, (_, k) => ({ first: 2 * k, last: 2 * k, type: 'release' as const }));
    const odds = Array.from({ length: maxDelayEntries }, (_, k) => ({ first: 2 * k + 1, last: 2 * k + 1, type: 'unread' as const }));
    state = acknowledge(state, 'x', [...evens, ...odds], { nowMs: 1, ...limits }).next;
    const taken = acquire(state, { member: 'm', maxRecords: n, nowMs: 2, logStartOffset: 0, logEndOffset: n, ...limits });
    // Each pair (2k, 2k+1) is due at its own time: maxDelayEntries DEFER acknowledgements, as deferrals() caps them.
    const records = Array.from({ length: n }, (_, offset) => ({
      offset,
      timestampMs: 0,
      headers: [{ key: 'spool.deliver.at.ms', value: Buffer.from(String(10_000 + Math.floor(offset / 2))) }],
    }));
    const { acks } = deferrals(records, 2, maxDelayEntries);
    expect(acks.filter((a) => a.type === 'defer')).toHaveLength(maxDelayEntries);
    const { refused, deferred, next } = acknowledge(taken.next, 'm', acks, { nowMs: 3, ...limits, maxDeferred: maxDelayEntries });
    expect(refused).toEqual([]);
    // store.apply refuses (INTERNAL) a change with more entries than this: the records past them are given back unread.
    expect(deferred).toHaveLength(maxDelayEntries);
    expect(next.delayedRecords).toBe(maxDelayEntries);
    const back = next.ranges.filter((r) => r.state === 'available');
    expect(back.reduce((sum, r) => sum + r.last - r.first + 1, 0)).toBe(n - maxDelayEntries);
  });
});
