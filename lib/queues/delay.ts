/**
 * Delayed delivery: a record says when share groups may first hand it out, with a header, and the
 * HTTP produce's `deliver_at` / `deliver_after_ms` write that header. Ordinary consumers (Kafka
 * consumer groups, HTTP fetches) read the record at its offset at once, as Kafka would: the delay
 * is a share group's, kept in its delay index (share-partition.ts, store.ts), never the log's. Pure.
 *
 * Headers (UTF-8 decimal text; the first one that parses wins, in this order):
 *  - `spool.deliver.at.ms`: the time, in ms since the epoch;
 *  - `spool.deliver.after.ms`: ms after the record's own timestamp.
 * A header that does not parse as a whole number of ms is ignored (the record is due at once): a
 * share group never refuses a record it cannot change.
 */
import type { RecordHeader } from '../format/index.js';
import type { Acknowledgement } from './share-partition.js';

export const deliverAtHeader = 'spool.deliver.at.ms';
export const deliverAfterHeader = 'spool.deliver.after.ms';
/** What both header names start with: a batch whose bytes hold neither names no delay (when not compressed). */
export const delayHeaderPrefix = Buffer.from('spool.deliver.', 'utf8');

/** The longest delay written: about 292 years, JS's safe integers in ms; a topic's retention bounds what is kept. */
const digits = /^\d{1,15}$/;

/** When a record is first due for share groups, from its headers (undefined: at once). */
export function dueMsOf(record: { readonly timestampMs: number; readonly headers: readonly RecordHeader[] }): number | undefined {
  for (const name of [deliverAtHeader, deliverAfterHeader]) {
    const header = record.headers.find((h) => h.key === name);
    const text = header?.value?.toString('utf8').trim();
    if (text === undefined || !digits.test(text)) continue;
    return name === deliverAtHeader ? Number(text) : record.timestampMs + Number(text);
  }
  return undefined;
}

/** The header that delays a record until `dueMs` (what the HTTP produce writes). */
export function deliverAtHeaderOf(dueMs: number): RecordHeader {
  return { key: deliverAtHeader, value: Buffer.from(String(dueMs), 'utf8') };
}

/**
 * Of records read for a share group (in offset order), those not due by `nowMs`: DEFER
 * acknowledgements until their due times (consecutive offsets due alike in one), at most
 * `maxEntries` of them (the delay index entries one change may write), and past that, UNREAD ones
 * (taken again, and deferred, by a later read). Answers the offsets not to hand out, too.
 */
export function deferrals(
  records: readonly { readonly offset: number; readonly timestampMs: number; readonly headers: readonly RecordHeader[] }[],
  nowMs: number,
  maxEntries: number,
): { readonly acks: readonly Acknowledgement[]; readonly held: ReadonlySet<number> } {
  const acks: Acknowledgement[] = [];
  const held = new Set<number>();
  for (const record of records) {
    const dueMs = dueMsOf(record);
    if (dueMs === undefined || dueMs <= nowMs) continue;
    held.add(record.offset);
    const previous = acks.at(-1);
    const defers = acks.filter((a) => a.type === 'defer').length < maxEntries;
    const ack: Acknowledgement = defers
      ? { first: record.offset, last: record.offset, type: 'defer', dueMs }
      : { first: record.offset, last: record.offset, type: 'unread' };
    if (previous && previous.last + 1 === record.offset && previous.type === ack.type && previous.dueMs === ack.dueMs)
      acks[acks.length - 1] = { ...previous, last: record.offset };
    else acks.push(ack);
  }
  return { acks, held };
}
