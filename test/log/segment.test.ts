import { describe, expect, it } from 'vitest';
import { buildSegment, readSegmentFooter } from '../../lib/log/segment.js';

describe('log > segment object', () => {
  const chunks = [
    { topicId: 't1', topic: 'orders', partition: 0, bytes: [Buffer.from('aaaa'), Buffer.from('bb')], recordCount: 3, maxTimestampMs: 10 },
    { topicId: 't2', topic: 'audit', partition: 5, bytes: [Buffer.from('ccc')], recordCount: 1, maxTimestampMs: 20 },
  ];

  it('lays chunks out in order, then a JSON footer, its length and the magic "SPL1"', () => {
    const { body, entries } = buildSegment(chunks, 'writer-1', 1234);
    expect(body.subarray(0, 9).toString()).toBe('aaaabbccc');
    expect(entries.map((e) => [e.topic, e.partition, e.position, e.sizeBytes])).toEqual([
      ['orders', 0, 0, 6],
      ['audit', 5, 6, 3],
    ]);
    expect(body.subarray(body.length - 4).toString()).toBe('SPL1');
    expect(readSegmentFooter(body)).toEqual({ version: 1, writer: 'writer-1', createdMs: 1234, chunks: entries });
  });

  it('refuses an object without the magic or with a footer longer than the object', () => {
    const { body } = buildSegment(chunks, 'w', 1);
    expect(() => readSegmentFooter(body.subarray(0, body.length - 1))).toThrow(/segment object must end with magic "SPL1"/);
    const broken = Buffer.from(body);
    broken.writeUInt32BE(body.length * 2, body.length - 8);
    expect(() => readSegmentFooter(broken)).toThrow(/segment footer length \d+ exceeds the object/);
  });
});
