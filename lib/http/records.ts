/**
 * Records between HTTP bodies and the engine. Pure.
 *
 * JSON bodies carry keys, values and header values as strings: UTF-8 text (`encoding: "utf8"`, the
 * default) or base64 (`encoding: "base64"`, for binary). NDJSON bodies carry the same records, one
 * JSON object per line. Text bodies (text/plain) carry one record value per line, as a console
 * producer sends, optionally with a key split off at the first `key_separator`.
 */
import { SpoolError } from '../errors.js';
import type { DecodedRecord, RecordHeader } from '../format/index.js';
import type { ProduceRecord } from '../log/index.js';
import { deliverAtHeaderOf } from '../queues/delay.js';

export type Encoding = 'utf8' | 'base64';

export interface JsonRecordIn {
  readonly key?: string | null | undefined;
  readonly value: string | null;
  readonly partition?: number | undefined;
  readonly headers?: Readonly<Record<string, string | null>> | undefined;
  readonly timestamp?: number | undefined;
  /** When share groups may first hand it out: ms since the epoch, or an ISO 8601 time. */
  readonly deliver_at?: number | string | undefined;
  /** The same, ms after `nowMs` (the time of receipt). */
  readonly deliver_after_ms?: number | undefined;
}

export interface JsonRecordOut {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Record<string, string | null>;
}

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** `nowMs`: the time of receipt, what `deliver_after_ms` counts from. */
export function fromJsonRecords(records: readonly JsonRecordIn[], encoding: Encoding, nowMs = Date.now()): ProduceRecord[] {
  return records.map((record, index) => {
    const decode = (text: string | null | undefined, field: string): Buffer | null => {
      if (text === null || text === undefined) return null;
      if (encoding === 'utf8') return Buffer.from(text, 'utf8');
      if (!base64Pattern.test(text)) {
        throw new SpoolError(
          'INVALID_ARGUMENT',
          `records[${index}].${field}: expected base64 (encoding is "base64"), got ${JSON.stringify(text.slice(0, 40))}`,
          {
            details: { field: `records[${index}].${field}` },
          },
        );
      }
      return Buffer.from(text, 'base64');
    };
    const headers: RecordHeader[] = Object.entries(record.headers ?? {}).map(([key, value]) => ({
      key,
      value: decode(value, `headers.${key}`),
    }));
    const dueMs = deliveryTime(record, index, nowMs);
    if (dueMs !== undefined) headers.push(deliverAtHeaderOf(dueMs));
    return {
      key: decode(record.key, 'key'),
      value: decode(record.value, 'value'),
      headers,
      timestampMs: record.timestamp,
      partition: record.partition,
    };
  });
}

/** A record's `deliver_at` or `deliver_after_ms` as ms since the epoch (undefined: neither), or INVALID_ARGUMENT naming the field. */
function deliveryTime(record: JsonRecordIn, index: number, nowMs: number): number | undefined {
  const { deliver_at: at, deliver_after_ms: afterMs } = record;
  const invalid = (field: string, expected: string, got: unknown) =>
    new SpoolError('INVALID_ARGUMENT', `records[${index}].${field}: expected ${expected}, got ${JSON.stringify(got)}`, {
      details: { field: `records[${index}].${field}` },
    });
  if (at !== undefined && afterMs !== undefined) throw invalid('deliver_at', 'deliver_at or deliver_after_ms, not both', at);
  if (afterMs !== undefined) {
    if (nowMs + afterMs > maxDueMs)
      throw invalid('deliver_after_ms', `at most ${maxDueMs - nowMs} (a time before ${maxDueMs} ms)`, afterMs);
    return nowMs + afterMs;
  }
  if (at === undefined) return undefined;
  const ms = typeof at === 'number' ? at : isoTime(at);
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > maxDueMs)
    throw invalid('deliver_at', `ms since the epoch (at most ${maxDueMs}) or an ISO 8601 time with its zone`, at);
  return ms;
}

/** The latest time a delay may name: what spool.deliver.at.ms's 15 digits hold (the year 33658). */
const maxDueMs = 999_999_999_999_999;

/** An ISO 8601 date and time with its zone, as ms since the epoch; NaN if it is not one, or names a day its month has not. */
function isoTime(text: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!match) return Number.NaN;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return Number.NaN;
  return Date.parse(text);
}

/** The lines of a text body, numbered from 1: a trailing newline and CRLF line ends are accepted. */
function lines(body: string): { line: string; number: number }[] {
  return body.split('\n').map((raw, index) => ({ line: raw.endsWith('\r') ? raw.slice(0, -1) : raw, number: index + 1 }));
}

/**
 * text/plain: one record value per line, as sent; an empty line is no record (a line of spaces is a
 * value of spaces, as a console producer sends it).
 */
export function fromTextLines(body: string, keySeparator: string | undefined, partition: number | undefined): ProduceRecord[] {
  const records: ProduceRecord[] = [];
  for (const { line, number } of lines(body)) {
    if (line === '') continue;
    if (keySeparator === undefined || keySeparator === '') {
      records.push({ key: null, value: Buffer.from(line, 'utf8'), partition });
      continue;
    }
    const at = line.indexOf(keySeparator);
    if (at < 0) {
      throw new SpoolError('INVALID_ARGUMENT', `line ${number}: expected a key separated by ${JSON.stringify(keySeparator)}, got none`, {
        details: { field: `line ${number}` },
      });
    }
    records.push({
      key: Buffer.from(line.slice(0, at), 'utf8'),
      value: Buffer.from(line.slice(at + keySeparator.length), 'utf8'),
      partition,
    });
  }
  return records;
}

/**
 * application/x-ndjson: one JSON record per line, each as in a JSON body's `records`
 * (`{key?, value, partition?, headers?, timestamp?}`); lines of only whitespace are no record.
 * `check` validates a parsed line (the JSON body's schema) and names what is wrong with it.
 */
export function fromNdjson(
  body: string,
  encoding: Encoding,
  partition: number | undefined,
  check: (record: unknown, field: string) => JsonRecordIn,
): ProduceRecord[] {
  const records: JsonRecordIn[] = [];
  for (const { line, number } of lines(body)) {
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new SpoolError(
        'INVALID_ARGUMENT',
        `line ${number}: expected a JSON record such as {"value": "…"}, got ${JSON.stringify(line.slice(0, 40))}`,
        {
          details: { field: `line ${number}` },
        },
      );
    }
    const record = check(parsed, `line ${number}`);
    records.push(partition !== undefined && record.partition === undefined ? { ...record, partition } : record);
  }
  return fromJsonRecords(records, encoding);
}

export function toJsonRecord(record: DecodedRecord, encoding: Encoding): JsonRecordOut {
  const encode = (bytes: Buffer | null) => (bytes === null ? null : bytes.toString(encoding));
  const headers: Record<string, string | null> = {};
  for (const header of record.headers) headers[header.key] = encode(header.value);
  return { offset: record.offset, timestamp: record.timestampMs, key: encode(record.key), value: encode(record.value), headers };
}
