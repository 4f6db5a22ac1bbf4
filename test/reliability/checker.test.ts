/** The reliability checker itself: each broken promise it is meant to find, it finds. */
import { describe, expect, it } from 'vitest';
import {
  checkCommits,
  checkConsumed,
  checkDeadLetters,
  checkDelayedDeliveries,
  checkDeliveries,
  checkLog,
  checkReadCommitted,
  checkShareGroup,
  checkTransactions,
  transactionFates,
  type Acknowledged,
  type ClientTransaction,
  type DeadLetter,
  type ReadRecord,
  type ShareAck,
  type ShareDelivery,
  type SharePartitionEnd,
  type StoredRecord,
  type TimedShareDelivery,
} from './checker.js';

const ack = (producer: string, sequence: number, partition: number, offset: number, idempotent = false): Acknowledged => ({
  producer,
  idempotent,
  value: `${producer}:${sequence}`,
  partition,
  offset,
});
const stored = (...values: string[]) => values.map((value, offset) => ({ offset, value }));
const sent = new Set(['a:0', 'a:1', 'a:2', 'i:0', 'i:1']);
const idempotent = new Set(['i']);

describe('reliability > checker', () => {
  it('passes a log that keeps every promise, counting a plain producer’s duplicate', () => {
    const result = checkLog(
      [ack('a', 0, 0, 0), ack('a', 1, 0, 2), ack('i', 0, 1, 0, true)],
      [stored('a:0', 'a:1', 'a:1'), stored('i:0')],
      sent,
      idempotent,
    );
    expect(result).toEqual({
      figures: { records: 4, markers: 0, acknowledged: 3, duplicates: 1, unacknowledgedVisible: 0 },
      violations: [],
    });
  });

  it.each([
    [
      'a lost acknowledged record',
      [ack('a', 0, 0, 0), ack('a', 1, 0, 1)],
      [stored('a:0')],
      /a:1 was acknowledged at 0\/1, which holds nothing/,
    ],
    [
      'a gap in offsets',
      [],
      [
        [
          { offset: 0, value: 'a:0' },
          { offset: 2, value: 'a:1' },
        ],
      ],
      /offsets are not dense/,
    ],
    ['a record never sent', [], [stored('zz:9')], /zz:9 was never sent/],
    ['an idempotent duplicate', [ack('i', 0, 0, 0, true)], [stored('i:0', 'i:0')], /i:0 of idempotent producer i is visible 2 times/],
    [
      'acknowledgements out of order',
      [ack('a', 0, 0, 1), ack('a', 1, 0, 0)],
      [stored('a:1', 'a:0')],
      /a:1 acknowledged at 0, after a:0 at 1/,
    ],
  ])('finds %s', (_name, acks, partitions, message) => {
    expect(checkLog(acks, partitions, sent, idempotent).violations.join('\n')).toMatch(message);
  });

  it('finds a record handed to two members in one generation, and one that is not in the log', () => {
    const log = [stored('a:0', 'a:1')];
    expect(
      checkDeliveries(
        [
          { member: 'm1', generation: 3, partition: 0, offset: 0, value: 'a:0' },
          { member: 'm2', generation: 4, partition: 0, offset: 0, value: 'a:0' }, // a later generation may read it again
          { member: 'm2', generation: 3, partition: 0, offset: 0, value: 'a:0' },
          { member: 'm1', generation: 3, partition: 0, offset: 1, value: 'a:2' },
        ],
        log,
      ),
    ).toEqual(['0/0 went to m1 and m2 in generation 3', 'm1 got a:2 at 0/1, where the log holds a:1']);
  });

  it('checks a delivery of an unknown generation against the log only', () => {
    const log = [stored('a:0')];
    const deliveries = [
      { member: 'm1', generation: 3, partition: 0, offset: 0, value: 'a:0' },
      { member: 'm2', generation: null, partition: 0, offset: 0, value: 'a:0' },
      { member: 'm3', generation: null, partition: 0, offset: 0, value: 'a:0' },
    ];
    expect(checkDeliveries(deliveries, log)).toEqual([]);
    expect(checkDeliveries([{ member: 'm2', generation: null, partition: 0, offset: 0, value: 'a:1' }], log)).toEqual([
      'm2 got a:1 at 0/0, where the log holds a:0',
    ]);
  });

  it('finds an acknowledged record the group never consumed, and allows one consumed twice', () => {
    const deliveries = [
      { member: 'm1', generation: 3, partition: 0, offset: 0, value: 'a:0' },
      { member: 'm2', generation: 4, partition: 0, offset: 0, value: 'a:0' },
    ];
    expect(checkConsumed('g', [ack('a', 0, 0, 0), ack('a', 1, 0, 1)], deliveries)).toEqual([
      'g: a:1, acknowledged at 0/1, was never consumed',
    ]);
  });

  it('finds a committed offset moving backwards', () => {
    expect(
      checkCommits([
        { atMs: 0, partition: 0, committed: 5 },
        { atMs: 10, partition: 1, committed: 2 },
        { atMs: 20, partition: 0, committed: 4 },
      ]),
    ).toEqual(['partition 0: committed offset went from 5 to 4 (20 ms later)']);
  });

  describe('transactions', () => {
    // Producer 7's transactions t#0..t#3, one record on each of partitions 0 and 1, and plain records a:0, a:1.
    const data = (offset: number, value: string, producerId = 7): StoredRecord => ({
      offset,
      value,
      producerId,
      transactional: producerId !== -1,
    });
    const marker = (offset: number, control: 'commit' | 'abort', producerId = 7): StoredRecord => ({
      offset,
      key: null,
      value: null,
      producerId,
      transactional: true,
      control,
    });
    const log = (): StoredRecord[][] => [
      [
        data(0, 'a:0', -1),
        data(1, 't:0-0'),
        marker(2, 'commit'),
        data(3, 't:1-0'),
        marker(4, 'abort'),
        data(5, 't:2-0'),
        marker(6, 'commit'),
        data(7, 't:3-0'),
        marker(8, 'abort'),
      ],
      [
        data(0, 't:0-1'),
        marker(1, 'commit'),
        data(2, 't:1-1'),
        marker(3, 'abort'),
        data(4, 't:2-1'),
        marker(5, 'commit'),
        data(6, 't:3-1'),
        marker(7, 'abort'),
        data(8, 'a:1', -1),
      ],
    ];
    const txn = (n: number, asked: ClientTransaction['asked'], told: ClientTransaction['told']): ClientTransaction => ({
      id: `t#${n}`,
      records: [0, 1].map((partition) => ({ partition, value: `t:${n}-${partition}` })),
      asked,
      told,
    });
    // t#2 and t#3 asked to commit and heard nothing: t#2's commit landed, t#3's did not (the log aborted it).
    const transactions = [
      txn(0, 'commit', 'committed'),
      txn(1, 'abort', 'aborted'),
      txn(2, 'commit', 'unknown'),
      txn(3, 'commit', 'unknown'),
    ];
    const view = (): ReadRecord[] => [
      { partition: 0, offset: 0, value: 'a:0' },
      { partition: 0, offset: 1, value: 't:0-0' },
      { partition: 0, offset: 5, value: 't:2-0' },
      { partition: 1, offset: 0, value: 't:0-1' },
      { partition: 1, offset: 4, value: 't:2-1' },
      { partition: 1, offset: 8, value: 'a:1' },
    ];
    const without = (value: string) => view().filter((r) => r.value !== value);
    const txnSent = new Set(['a:0', 'a:1', ...transactions.flatMap((t) => t.records.map((r) => r.value))]);

    it('decides each transactional record by its producer’s next marker in its partition, or leaves it open', () => {
      const partitions = log();
      partitions[1]!.splice(7, 2, data(7, 'a:1', -1)); // t#3's ABORT on 1 not written yet
      const fates = transactionFates(partitions);
      expect(fates.get('0/1')).toEqual({ fate: 'committed', marker: 2 });
      expect(fates.get('0/3')).toEqual({ fate: 'aborted', marker: 4 });
      expect(fates.get('1/6')).toEqual({ fate: 'open' });
      expect(fates.has('0/0')).toBe(false); // not transactional
      // Producers' transactions interleave in a partition: each record waits for its own producer's marker.
      const interleaved = transactionFates([
        [
          data(0, 'u:0', 8),
          data(1, 't:0', 7),
          marker(2, 'commit', 7),
          data(3, 'u:1', 8),
          marker(4, 'abort', 8),
          data(5, 'u:2', 8),
          data(6, 't:1', 7),
          marker(7, 'abort', 7),
        ],
      ]);
      expect([...interleaved]).toEqual([
        ['0/0', { fate: 'aborted', marker: 4 }],
        ['0/1', { fate: 'committed', marker: 2 }],
        ['0/3', { fate: 'aborted', marker: 4 }],
        ['0/5', { fate: 'open' }], // producer 7's marker after it is not its own
        ['0/6', { fate: 'aborted', marker: 7 }],
      ]);
    });

    it('passes a log with markers and views that keep every promise', () => {
      expect(checkLog([], log(), txnSent, new Set(['t'])).figures).toMatchObject({ records: 10, markers: 8 });
      expect(checkLog([], log(), txnSent, new Set(['t'])).violations).toEqual([]);
      expect(checkReadCommitted('r', view(), log(), { complete: true })).toEqual([]);
      expect(checkTransactions('r', transactions, view(), log())).toEqual({
        figures: { transactions: 4, committed: 1, aborted: 1, unknown: 2, unknownCommits: 2, unknownCommitsVisible: 1, visible: 2 },
        violations: [],
      });
    });

    it('finds a marker that is not dense, or of no known type, and a consumer handed a marker', () => {
      const partitions = log();
      partitions[0]![2] = { ...partitions[0]![2]!, control: 'unknown' };
      expect(checkLog([], partitions, txnSent, new Set()).violations).toEqual(['partition 0 offset 2: a control record of no known type']);
      expect(checkDeliveries([{ member: 'm', generation: 1, partition: 0, offset: 2, value: null }], log())).toEqual([
        'm got null at 0/2, where the log holds a commit marker',
      ]);
    });

    it.each([
      [
        'a marker',
        [...view(), { partition: 0, offset: 2, value: null }],
        log(),
        /r was handed null at 0\/2, where the log holds a commit marker/,
      ],
      [
        'an aborted transaction’s record',
        [...view(), { partition: 0, offset: 3, value: 't:1-0' }],
        log(),
        /r was handed t:1-0 at 0\/3, a record of a transaction aborted by the marker at 4/,
      ],
      [
        'an open transaction’s record',
        [...view(), { partition: 1, offset: 6, value: 't:3-1' }],
        (() => {
          const partitions = log();
          partitions[1]!.splice(7, 2, data(7, 'a:1', -1));
          return partitions;
        })(),
        /r was handed t:3-1 at 1\/6, a record of a transaction open/,
      ],
      [
        'a record that is not the log’s',
        [...view(), { partition: 1, offset: 8, value: 'a:9' }],
        log(),
        /r was handed a:9 at 1\/8, where the log holds a:1/,
      ],
    ])('finds a read_committed reader handed %s', (_name, records, partitions, message) => {
      expect(checkReadCommitted('r', records, partitions).join('\n')).toMatch(message);
    });

    it('finds a complete read_committed view missing a plain or committed record, or holding one twice, and lets a partial view miss them', () => {
      expect(checkReadCommitted('r', without('a:1'), log(), { complete: true })).toEqual([
        'r was handed a:1 at 1/8 (not transactional) 0 times',
      ]);
      expect(checkReadCommitted('r', without('t:2-0'), log(), { complete: true })).toEqual([
        'r was handed t:2-0 at 0/5 (committed by the marker at 6) 0 times',
      ]);
      expect(checkReadCommitted('r', [...view(), view()[0]!], log(), { complete: true })).toEqual([
        'r was handed a:0 at 0/0 (not transactional) 2 times',
      ]);
      expect(checkReadCommitted('r', without('a:1'), log())).toEqual([]);
    });

    const partlyCommitted = (() => {
      const partitions = log();
      partitions[1]![5] = marker(5, 'abort'); // t#2 committed on 0, aborted on 1
      return partitions;
    })();
    it.each([
      [
        '(a) a transaction partly visible',
        transactions,
        without('t:2-1'),
        log(),
        /transaction t#2 \(asked commit, told unknown\) is partly visible to r: on partitions 0 \(t:2-0 at 0\/5, committed by the marker at 6\); not on 1 \(t:2-1 at 1\/4, committed by the marker at 5\)/,
      ],
      [
        '(b) a committed transaction not visible',
        transactions,
        without('t:0-0').filter((r) => r.value !== 't:0-1'),
        log(),
        /transaction t#0 \(asked commit, told committed\) committed, but r did not see it on partitions 0 .*, 1 /,
      ],
      [
        '(b) a committed transaction not in the log',
        transactions,
        without('t:0-1'),
        log().map((records) => records.filter((r) => r.value !== 't:0-1')),
        /t#0 .* committed, but r did not see it on partitions 1 \(t:0-1 not in the log\)/,
      ],
      [
        '(c) an aborted transaction visible',
        transactions,
        [...view(), { partition: 0, offset: 3, value: 't:1-0' }, { partition: 1, offset: 2, value: 't:1-1' }],
        log(),
        /transaction t#1 \(asked abort, told aborted\) never committed, but r saw it on partitions 0 .*, 1 /,
      ],
      [
        '(c) a transaction never asked to commit visible',
        [txn(0, 'none', 'unknown'), ...transactions.slice(1)],
        view(),
        log(),
        /transaction t#0 \(asked none, told unknown\) never committed, but r saw it/,
      ],
      [
        '(c) a transaction told aborted after it asked to commit, visible',
        [txn(0, 'commit', 'aborted'), ...transactions.slice(1)],
        view(),
        log(),
        /transaction t#0 \(asked commit, told aborted\) never committed, but r saw it/,
      ],
      [
        '(c) a transaction aborted after its commit failed, visible',
        [txn(0, 'abort', 'unknown'), ...transactions.slice(1)],
        view(),
        log(),
        /transaction t#0 \(asked abort, told unknown\) never committed, but r saw it/,
      ],
      [
        '(e) a record visible twice',
        transactions,
        [...view(), view()[1]!],
        log(),
        /t:0-0 of transaction t#0, sent to partition 0, was handed to r at 0\/1, 0\/1/,
      ],
      [
        '(e) a record visible on another partition',
        [
          {
            ...txn(0, 'commit', 'committed'),
            records: [
              { partition: 1, value: 't:0-0' },
              { partition: 1, value: 't:0-1' },
            ],
          },
        ],
        view(),
        log(),
        /t:0-0 of transaction t#0, sent to partition 1, was handed to r at 0\/1/,
      ],
      [
        '(e) a record in the log twice',
        transactions,
        view(),
        log().map((records, partition) => (partition === 0 ? [...records, data(9, 't:1-0'), marker(10, 'abort')] : records)),
        /t:1-0 of transaction t#1 is in the log 2 times: at 0\/3, aborted by the marker at 4; at 0\/9, aborted by the marker at 10/,
      ],
      [
        'markers that disagree',
        transactions,
        without('t:2-1'),
        partlyCommitted,
        /transaction t#2 .*: the log's markers disagree: 0 \(t:2-0 at 0\/5, committed by the marker at 6\), 1 \(t:2-1 at 1\/4, aborted by the marker at 5\)/,
      ],
      [
        'a transaction left open',
        transactions,
        view(),
        log().map((records, partition) => (partition === 1 ? records.filter((r) => r.offset !== 7) : records)),
        /transaction t#3 \(asked commit, told unknown\) is still open at the end: t:3-1 at 1\/6 has no marker after it/,
      ],
    ])('finds %s', (_name, clientView, readerView, partitions, message) => {
      expect(checkTransactions('r', clientView, readerView, partitions).violations.join('\n')).toMatch(message);
    });

    it('passes an unknown outcome either way, all or nothing', () => {
      const aborted = log().map((records, partition) =>
        records.map((r) => (r.offset === (partition === 0 ? 6 : 5) ? marker(r.offset, 'abort') : r)),
      );
      const result = checkTransactions(
        'r',
        transactions,
        without('t:2-0').filter((r) => r.value !== 't:2-1'),
        aborted,
      );
      expect(result.violations).toEqual([]);
      expect(result.figures.unknownCommitsVisible).toBe(0);
    });
  });

  describe('share groups', () => {
    // Partition 0: a:0, a:1, a:2 and a marker; partition 1: i:0.
    const log = (): StoredRecord[][] => [
      [...stored('a:0', 'a:1', 'a:2'), { offset: 3, key: null, value: null, control: 'commit' }],
      stored('i:0'),
    ];
    const handed = (receiver: string, partition: number, offset: number, value: string | null, deliveryCount: number): ShareDelivery => ({
      receiver,
      partition,
      offset,
      value,
      deliveryCount,
    });
    const answered = (
      receiver: string,
      partition: number,
      offset: number,
      deliveryCount: number,
      outcome: ShareAck['outcome'],
      status: ShareAck['status'],
    ): ShareAck => ({ receiver, partition, offset, deliveryCount, outcome, status });
    // 0/0 accepted; 0/1 released, then accepted with the answer lost; 0/2 rejected; 1/0 abandoned by r1
    // (its lock expired), then accepted by r2, whose retry was told already_settled; r1's late accept refused.
    const deliveries = (): ShareDelivery[] => [
      handed('r1', 0, 0, 'a:0', 1),
      handed('r1', 0, 1, 'a:1', 1),
      handed('r2', 0, 2, 'a:2', 1),
      handed('r1', 1, 0, 'i:0', 1),
      handed('r2', 0, 1, 'a:1', 2),
      handed('r2', 1, 0, 'i:0', 2),
    ];
    const acks = (): ShareAck[] => [
      answered('r1', 0, 0, 1, 'accept', 'ok'),
      answered('r1', 0, 1, 1, 'release', 'ok'),
      answered('r2', 0, 2, 1, 'reject', 'ok'),
      answered('r2', 0, 1, 2, 'accept', 'unknown'),
      answered('r2', 1, 0, 2, 'accept', 'unknown'),
      answered('r2', 1, 0, 2, 'accept', 'ok'),
      answered('r2', 1, 0, 2, 'accept', 'already_settled'),
      { ...answered('r1', 1, 0, 1, 'accept', 'refused'), late: true },
    ];
    const ends = (dead = 1): SharePartitionEnd[] => [
      { partition: 0, startOffset: 4, logEndOffset: 4, acquired: 0, available: 0, dead },
      { partition: 1, startOffset: 1, logEndOffset: 1, acquired: 0, available: 0, dead: 0 },
    ];
    /** end null: the receivers never drained the group (no description at the end). */
    const check = (d = deliveries(), a = acks(), partitions = log(), end: SharePartitionEnd[] | null = ends()) =>
      checkShareGroup('q', d, a, partitions, { deliveryLimit: 5, ...(end === null ? {} : { end }) });

    it('passes a group that kept every promise, the record whose accept was answered nothing either way', () => {
      expect(check()).toEqual({
        figures: {
          deliveries: 6,
          redeliveries: 2,
          accepted: 2,
          rejected: 1,
          settledUnanswered: 1,
          dead: 1,
          acks: {
            'accept ok': 2,
            'release ok': 1,
            'reject ok': 1,
            'accept unknown': 2,
            'accept already_settled': 1,
            'accept refused': 1,
          },
        },
        violations: [],
      });
      // 0/1's lost accept did not land: it died at the limit (deliveries the receivers never saw).
      expect(check(undefined, undefined, undefined, ends(2)).violations).toEqual([]);
      // Without an end, the deliveries and answers alone.
      expect(check(undefined, undefined, undefined, null)).toMatchObject({ figures: { settledUnanswered: 0 }, violations: [] });
      expect(check(undefined, undefined, undefined, null).figures).not.toHaveProperty('dead');
    });

    it.each([
      [
        '(a) a record accepted twice in one delivery',
        deliveries(),
        [...acks(), answered('r1', 0, 0, 1, 'accept', 'ok')],
        log(),
        ends(),
        /q: 0\/0 was settled 2 times: accept by r1 \(delivery 1\), accept by r1 \(delivery 1\)/,
      ],
      [
        '(a) a record accepted by two deliveries',
        deliveries(),
        acks().map((a) => (a.offset === 1 && a.partition === 0 ? { ...a, outcome: 'accept' as const, status: 'ok' as const } : a)),
        log(),
        ends(0),
        /q: 0\/1 was settled 2 times: accept by r1 \(delivery 1\), accept by r2 \(delivery 2\)/,
      ],
      [
        '(b) a delivery of another value',
        [...deliveries(), handed('r3', 0, 2, 'a:9', 2)],
        acks(),
        log(),
        ends(),
        /q: r3 was handed a:9 at 0\/2, where the log holds a:2/,
      ],
      [
        '(b) a delivery of a marker',
        [...deliveries(), handed('r3', 0, 3, null, 1)],
        acks(),
        log(),
        ends(),
        /q: r3 was handed null at 0\/3, where the log holds a commit marker/,
      ],
      [
        '(c) a record never settled',
        deliveries(),
        acks(),
        [...log().slice(0, 1), stored('i:0', 'i:1')],
        [ends()[0]!, { ...ends()[1]!, startOffset: 2, logEndOffset: 2 }],
        /q: partition 1: 0 records were rejected and 1 neither accepted nor rejected with no answer lost \(1\), but the group counts 0 dead: a record was lost/,
      ],
      [
        '(c) a rejected record not counted dead',
        deliveries(),
        acks(),
        log(),
        ends(0),
        /q: partition 0: 1 records were rejected .* but the group counts 0 dead/,
      ],
      [
        '(c) an accepted record counted dead',
        deliveries(),
        acks(),
        log(),
        ends(3),
        /q: partition 0: the group counts 3 dead, but at most 2 records were not accepted/,
      ],
      [
        '(c) records still in flight',
        deliveries(),
        acks(),
        log(),
        [{ ...ends()[0]!, startOffset: 2, acquired: 1, available: 1 }, ends()[1]!],
        /q: partition 0 is not settled to the end of its log \(4\): start offset 2, log end 4, 1 acquired, 1 available/,
      ],
      [
        '(c) a start offset short of the log’s end',
        deliveries(),
        acks(),
        log(),
        [{ ...ends()[0]!, startOffset: 3 }, ends()[1]!],
        /q: partition 0 is not settled to the end of its log \(4\): start offset 3, log end 4, 0 acquired, 0 available/,
      ],
      [
        '(c) a record still locked',
        deliveries(),
        acks(),
        log(),
        [{ ...ends()[0]!, acquired: 1 }, ends()[1]!],
        /q: partition 0 is not settled to the end of its log \(4\): start offset 4, log end 4, 1 acquired, 0 available/,
      ],
      [
        '(c) a delayed record still deferred',
        deliveries(),
        acks(),
        log(),
        [{ ...ends()[0]!, delayed: 1 }, ends()[1]!],
        /q: partition 0 is not settled to the end of its log \(4\): start offset 4, log end 4, 0 acquired, 0 available, 1 delayed/,
      ],
      [
        '(c) a partition never read',
        deliveries(),
        acks(),
        log(),
        ends().slice(0, 1),
        /q: partition 1 holds 1 records, and the group never read it/,
      ],
      [
        '(d) two holders of one delivery',
        [...deliveries(), handed('r3', 0, 1, 'a:1', 2)],
        acks(),
        log(),
        ends(),
        /q: 0\/1 was handed to r2 and to r3 at delivery 2: two holders/,
      ],
      [
        '(d) a delivery count that went back',
        [...deliveries(), handed('r2', 0, 1, 'a:1', 1)],
        acks(),
        log(),
        ends(),
        /q: r2 was handed 0\/1 at delivery 1, after delivery 2/,
      ],
      [
        '(d) one delivery handed twice to one receiver',
        [...deliveries(), handed('r2', 0, 1, 'a:1', 2)],
        acks(),
        log(),
        ends(),
        /q: r2 was handed 0\/1 at delivery 2, after delivery 2/,
      ],
      [
        '(d) a delivery past the limit',
        [...deliveries(), handed('r3', 0, 1, 'a:1', 6)],
        acks(),
        log(),
        ends(),
        /q: r3 was handed 0\/1 at delivery 6, outside 1 to 5/,
      ],
      [
        '(e) a record delivered again after it was accepted',
        [...deliveries(), handed('r3', 0, 0, 'a:0', 2)],
        acks(),
        log(),
        ends(),
        /q: 0\/0 was settled \(accept by r1 \(delivery 1\)\) and handed out again: to r3 at delivery 2/,
      ],
      [
        '(e) an acknowledgement answered invalid',
        deliveries(),
        [...acks(), answered('r1', 0, 0, 1, 'release', 'invalid')],
        log(),
        ends(),
        /q: r1's release of 0\/0 \(delivery 1\), a record it was handed, was answered invalid/,
      ],
      [
        '(e) a late acknowledgement that settled a record',
        deliveries(),
        acks().map((a) => (a.offset === 0 && a.partition === 0 ? { ...a, late: true } : a)),
        log(),
        ends(),
        /q: r1's accept of 0\/0 \(delivery 1\), sent after its lock ended, was answered ok/,
      ],
      [
        'an acknowledgement of a delivery never seen',
        deliveries(),
        [...acks(), answered('r3', 0, 0, 1, 'accept', 'refused')],
        log(),
        ends(),
        /q: r3's accept of 0\/0 \(delivery 1\) acknowledges a delivery it was never handed/,
      ],
    ])('finds %s', (_name, d, a, partitions, end, message) => {
      expect(check(d, a, partitions, end).violations.join('\n')).toMatch(message);
    });
  });

  describe('dead letters', () => {
    // Partition 0: a:0 to a:3 and a marker; partition 1: i:0 to i:2 (keys k<value>).
    const keyed = (...values: string[]): StoredRecord[] => values.map((value, offset) => ({ offset, key: `k${value}`, value }));
    const log = (): StoredRecord[][] => [
      [...keyed('a:0', 'a:1', 'a:2', 'a:3'), { offset: 4, key: null, value: null, control: 'commit' }],
      keyed('i:0', 'i:1', 'i:2'),
    ];
    const answered = (
      partition: number,
      offset: number,
      deliveryCount: number,
      outcome: ShareAck['outcome'],
      status: ShareAck['status'],
    ): ShareAck => ({
      receiver: 'r1',
      partition,
      offset,
      deliveryCount,
      outcome,
      status,
    });
    // 0/0 accepted; 0/1 rejected at delivery 2; 0/2 never settled (dead at the limit); 0/3's accept
    // answered nothing (it died at the limit after all); 1/0's reject answered nothing (it killed the
    // record); 1/1's accept answered nothing (it accepted it); 1/2 accepted.
    const acks = (): ShareAck[] => [
      answered(0, 0, 1, 'accept', 'ok'),
      answered(0, 1, 1, 'release', 'ok'),
      answered(0, 1, 2, 'reject', 'ok'),
      answered(0, 3, 4, 'accept', 'unknown'),
      answered(1, 0, 1, 'reject', 'unknown'),
      answered(1, 1, 1, 'accept', 'unknown'),
      answered(1, 2, 1, 'accept', 'ok'),
    ];
    const letter = (
      dlqPartition: number,
      dlqOffset: number,
      partition: number,
      offset: number,
      deliveryCount: number,
      message: string,
      changes: Partial<DeadLetter> & { headers?: Record<string, string | null> } = {},
    ): DeadLetter => {
      const value = log()[partition]![offset]!.value;
      return {
        partition: dlqPartition,
        offset: dlqOffset,
        key: `k${value}`,
        value,
        ...changes,
        headers: {
          '__dlq.errors.topic': 't',
          '__dlq.errors.partition': String(partition),
          '__dlq.errors.offset': String(offset),
          '__dlq.errors.group': 'q',
          '__dlq.errors.delivery.count': String(deliveryCount),
          '__dlq.errors.message': message,
          ...changes.headers,
        },
      };
    };
    const rejected = 'Offset rejected by client.';
    const limit = 'Offset delivery count exceeded the threshold.';
    // 0/1's letter twice (its writer died before archiving it: written again).
    const letters = (): DeadLetter[] => [
      letter(0, 0, 0, 1, 2, rejected),
      letter(0, 1, 0, 2, 5, limit),
      letter(0, 2, 0, 1, 2, rejected),
      letter(0, 3, 0, 3, 5, limit),
      letter(1, 0, 1, 0, 1, rejected),
    ];
    /** The letters but those of `partition`/`offset`. */
    const without = (partition: number, offset: number) =>
      letters().filter(
        (l) => l.headers['__dlq.errors.partition'] !== String(partition) || l.headers['__dlq.errors.offset'] !== String(offset),
      );
    const ends = (dead0 = 3, dead1 = 1): SharePartitionEnd[] => [
      { partition: 0, startOffset: 5, logEndOffset: 5, acquired: 0, available: 0, dead: dead0 },
      { partition: 1, startOffset: 3, logEndOffset: 3, acquired: 0, available: 0, dead: dead1 },
    ];
    const check = (l = letters(), a = acks(), end: SharePartitionEnd[] | null = ends()) =>
      checkDeadLetters('q', 't', l, a, log(), { deliveryLimit: 5, deadLetterPartitions: 2, ...(end === null ? {} : { end }) });

    it('passes letters that keep every promise, a duplicate and the letters of records whose answers were lost among them', () => {
      expect(check()).toEqual({ figures: { letters: 5, records: 4, duplicates: 1, unanswered: 2 }, violations: [] });
      // 0/3's lost accept took (no letter, one dead fewer); so may 1/0's lost reject not have (a lost answer allows either).
      expect(check(without(0, 3), acks(), ends(2)).violations).toEqual([]);
      expect(check(without(1, 0), acks(), ends(3, 0)).violations).toEqual([]);
      // Without an end, the letters and the rejects alone: a record dead at the limit cannot be told.
      expect(check(without(0, 2), acks(), null).violations).toEqual([]);
      expect(check(without(0, 1), acks(), null).violations.join('\n')).toMatch(
        /q: 0\/1 was rejected \(delivery 2\), and has no dead letter/,
      );
    });

    it.each([
      ['(b) a rejected record without a letter', without(0, 1), ends(), /q: 0\/1 was rejected \(delivery 2\), and has no dead letter/],
      [
        '(b) a record dead at the limit without a letter',
        without(0, 2),
        ends(),
        /q: 1 records of partition 0 neither accepted nor rejected with no answer lost \(dead at the limit\) have no dead letter \(2\)/,
      ],
      [
        '(c) a letter of an accepted record',
        [...letters(), letter(0, 5, 0, 0, 1, rejected)],
        ends(),
        /q: dead letter 0\/5 is of 0\/0, which was accepted \(answered ok\)/,
      ],
      [
        '(c) a letter of a record accepted on the first try',
        [...letters(), letter(1, 1, 1, 2, 5, limit)],
        ends(),
        /q: dead letter 1\/1 is of 1\/2, which was accepted/,
      ],
      [
        '(a) a letter of another value',
        [letter(0, 0, 0, 1, 2, rejected, { value: 'a:9' }), ...letters().slice(1)],
        ends(),
        /q: dead letter 0\/0 of 0\/1 copies key ka:1 and value a:9, where the log holds key ka:1 and value a:1/,
      ],
      [
        '(a) a letter without the copy',
        [letter(0, 0, 0, 1, 2, rejected, { key: null, value: null }), ...letters().slice(1)],
        ends(),
        /q: dead letter 0\/0 of 0\/1 copies key null and value null/,
      ],
      [
        '(a) a letter of another group',
        [...letters(), letter(0, 5, 0, 2, 5, limit, { headers: { '__dlq.errors.group': 'other' } })],
        ends(),
        /q: dead letter 0\/5 names group other, topic t, partition 0, offset 2: not a record of q on t/,
      ],
      [
        '(a) a letter of another topic',
        [...letters(), letter(0, 5, 0, 2, 5, limit, { headers: { '__dlq.errors.topic': 'u' } })],
        ends(),
        /q: dead letter 0\/5 names group q, topic u/,
      ],
      [
        '(a) a letter of a marker',
        [
          ...letters(),
          { ...letter(0, 5, 0, 2, 5, limit), headers: { ...letter(0, 5, 0, 2, 5, limit).headers, '__dlq.errors.offset': '4' } },
        ],
        ends(),
        /q: dead letter 0\/5 names 0\/4, where the log holds a commit marker/,
      ],
      [
        '(a) a letter past the log',
        [
          ...letters(),
          { ...letter(1, 1, 1, 2, 5, limit), headers: { ...letter(1, 1, 1, 2, 5, limit).headers, '__dlq.errors.offset': '3' } },
        ],
        ends(),
        /q: dead letter 1\/1 names 1\/3, where the log holds nothing/,
      ],
      [
        '(a) a letter in the wrong partition',
        [...letters().slice(0, 4), letter(0, 4, 1, 0, 1, rejected)],
        ends(),
        /q: dead letter 0\/4 of 1\/0 is in partition 0, not 1/,
      ],
      [
        '(a) a rejected record’s letter at another delivery count',
        [letter(0, 0, 0, 1, 3, rejected), ...letters().slice(1)],
        ends(),
        /q: dead letter 0\/0 of 0\/1, rejected at delivery 2, says delivery count 3 and "Offset rejected by client."/,
      ],
      [
        '(a) a rejected record’s letter with the limit’s message',
        [letter(0, 0, 0, 1, 2, limit), ...letters().slice(1)],
        ends(),
        /q: dead letter 0\/0 of 0\/1, rejected at delivery 2, says delivery count 2 and "Offset delivery count exceeded the threshold."/,
      ],
      [
        '(a) a death at the limit below the limit',
        [letters()[0]!, letter(0, 1, 0, 2, 4, limit), ...letters().slice(2)],
        ends(),
        /q: dead letter 0\/1 of 0\/2 says delivery count 4 and "Offset delivery count exceeded the threshold.": not a death at the limit \(5\)/,
      ],
      [
        '(a) a record never rejected with the reject’s message',
        [letters()[0]!, letter(0, 1, 0, 2, 5, rejected), ...letters().slice(2)],
        ends(),
        /q: dead letter 0\/1 of 0\/2 says delivery count 5 and "Offset rejected by client.": not a death at the limit/,
      ],
      [
        '(a) a record whose accept was lost with the reject’s message',
        [...letters().slice(0, 3), letter(0, 3, 0, 3, 4, rejected), letters()[4]!],
        ends(),
        /q: dead letter 0\/3 of 0\/3 says delivery count 4 and "Offset rejected by client.": not a death at the limit/,
      ],
      [
        '(d) a record counted dead without a letter',
        letters(),
        ends(3, 2),
        /q: partition 1: the group counts 2 dead, but 1 of its records have a dead letter/,
      ],
      [
        '(d) a letter of a record not counted dead',
        letters(),
        ends(2, 1),
        /q: partition 0: the group counts 2 dead, but 3 of its records have a dead letter/,
      ],
    ])('finds %s', (_name, l, end, message) => {
      expect(check(l, acks(), end).violations.join('\n')).toMatch(message);
    });
  });

  describe('delayed delivery', () => {
    const timed = (value: string, offset: number, answeredAtMs: number, deliveryCount = 1): TimedShareDelivery => ({
      receiver: 'r1',
      partition: 0,
      offset,
      value,
      deliveryCount,
      answeredAtMs,
    });
    const delayed = [
      { value: 'a:1', notBeforeMs: 1000 },
      { value: 'a:2', notBeforeMs: 2000 },
    ];
    // a:0 is not delayed; a:1 comes from a receive answered 50 ms before its time (the tolerance), and again later; a:2 100 ms after.
    const deliveries = (): TimedShareDelivery[] => [
      timed('a:0', 0, 0),
      timed('a:1', 1, 950),
      timed('a:2', 2, 2100),
      timed('a:1', 1, 3000, 2),
    ];

    it('passes deliveries no sooner than due', () => {
      expect(checkDelayedDeliveries('q', delayed, deliveries(), 50)).toEqual({
        figures: { delayed: 2, deliveries: 3, earliestMs: -50, latestMs: 100 },
        violations: [],
      });
      expect(checkDelayedDeliveries('q', delayed, [], 50)).toEqual({ figures: { delayed: 2, deliveries: 0 }, violations: [] });
    });

    it.each([
      [
        'a delivery before its time',
        [...deliveries(), timed('a:2', 2, 1900, 2)],
        /q: r1 was handed a:2 \(0\/2, delivery 2\) by a receive answered 100 ms before it was due/,
      ],
      [
        'a delivery just past the tolerance',
        [timed('a:1', 1, 949)],
        /q: r1 was handed a:1 \(0\/1, delivery 1\) by a receive answered 51 ms before it was due/,
      ],
      [
        'a resent copy delivered before its time',
        [timed('a:1', 7, 10)],
        /q: r1 was handed a:1 \(0\/7, delivery 1\) by a receive answered 990 ms before it was due/,
      ],
    ])('finds %s', (_name, d, message) => {
      expect(checkDelayedDeliveries('q', delayed, d, 50).violations.join('\n')).toMatch(message);
    });
  });
});
