/** The reliability checker itself: each broken promise it is meant to find, it finds. */
import { describe, expect, it } from 'vitest';
import { checkCommits, checkConsumed, checkDeliveries, checkLog, type Acknowledged } from './checker.js';

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
    expect(result).toEqual({ figures: { records: 4, acknowledged: 3, duplicates: 1, unacknowledgedVisible: 0 }, violations: [] });
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
});
