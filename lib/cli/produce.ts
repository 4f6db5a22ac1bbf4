/**
 * `spool produce`: lines from stdin or a file become records, sent in batches (one request at a time,
 * so records keep their input order within each partition). Text lines go as NDJSON (the server
 * splits keys); ndjson and json inputs are records ({key?, value, partition?, headers?, timestamp?}).
 * A summary goes to stderr at the end; a progress bar when reading a file on a terminal.
 */
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { SingleBar } from 'cli-progress';
import type { ProduceJsonRecord, SpoolClient } from '../client.js';
import { SpoolError } from '../errors.js';
import type { Output } from './output.js';

export interface ProduceOptions {
  readonly file?: string;
  readonly keySeparator?: string;
  readonly partition?: number;
  readonly acks: string;
  readonly format: 'text' | 'json' | 'ndjson';
  readonly batchRecords: number;
  readonly verbose?: boolean;
}

const maxBatchBytes = 1024 * 1024;

export async function produce(client: SpoolClient, out: Output, topic: string, options: ProduceOptions): Promise<void> {
  const progress = { sent: 0 };
  try {
    await produceAll(client, out, topic, options, progress);
  } catch (error) {
    if (error instanceof SpoolError) {
      throw new SpoolError(error.code, `${error.message} (${progress.sent} records before it were produced)`, {
        cause: error,
        details: error.details,
      });
    }
    throw error;
  }
}

async function produceAll(
  client: SpoolClient,
  out: Output,
  topic: string,
  options: ProduceOptions,
  progress: { sent: number },
): Promise<void> {
  const input = options.file ? createReadStream(options.file) : process.stdin;
  const totalBytes = options.file ? statSync(options.file).size : 0;
  const bar =
    options.file && process.stderr.isTTY
      ? new SingleBar({ format: ' {bar} {percentage}% | {records} records | {mb} MB | {rate} records/s', stream: process.stderr })
      : undefined;
  bar?.start(totalBytes, 0, { records: 0, mb: '0.0', rate: 0 });
  const started = performance.now();
  let records = 0;
  let bytes = 0;

  let sent = 0;
  let pending: string[] = [];
  let pendingBytes = 0;
  const send = async () => {
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    pendingBytes = 0;
    const answer =
      options.format === 'text'
        ? await client.produceLines(topic, `${lines.join('\n')}\n`, {
            acks: options.acks,
            keySeparator: options.keySeparator,
            partition: options.partition,
          })
        : await client.produce(
            topic,
            lines.map((line) => JSON.parse(line) as ProduceJsonRecord),
            options.acks,
          );
    sent += lines.length;
    progress.sent = sent;
    if (options.verbose) for (const o of answer.offsets) out.line(`${o.partition}\t${o.offset}`);
    const seconds = (performance.now() - started) / 1000;
    bar?.update(bytes, { records, mb: (bytes / 1e6).toFixed(1), rate: Math.round(records / Math.max(seconds, 0.001)) });
  };

  if (options.format === 'json') {
    const chunks: Buffer[] = [];
    for await (const chunk of input) chunks.push(chunk as Buffer);
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new SpoolError('INVALID_ARGUMENT', 'input must be a JSON array of records (--format json)');
    }
    if (!Array.isArray(parsed))
      throw new SpoolError('INVALID_ARGUMENT', `input must be a JSON array of records (--format json), got a ${typeof parsed}`);
    for (const item of parsed) {
      records++;
      pending.push(JSON.stringify(checkRecord(item, records, options.partition)));
      if (pending.length >= options.batchRecords) await send();
    }
  } else {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (line.trim() === '' && options.format === 'ndjson') continue;
      if (line === '') continue; // a blank line is no record (as the API treats it)
      records++;
      // Checked here, so an error names the line of the input, before anything after it is sent.
      if (options.format === 'ndjson') pending.push(JSON.stringify(parseRecord(line, records, options.partition)));
      else if (options.keySeparator !== undefined && !line.includes(options.keySeparator)) {
        throw new SpoolError(
          'INVALID_ARGUMENT',
          `line ${records}: expected a key separated by ${JSON.stringify(options.keySeparator)}, got none`,
        );
      } else pending.push(line);
      const size = Buffer.byteLength(line) + 1;
      bytes += size;
      pendingBytes += size;
      if (pending.length >= options.batchRecords || pendingBytes >= maxBatchBytes) await send();
    }
  }
  await send();
  bar?.update(totalBytes);
  bar?.stop();
  const seconds = (performance.now() - started) / 1000;
  out.info(
    `produced ${records} records (${(bytes / 1e6).toFixed(1)} MB) to ${topic} in ${seconds.toFixed(1)} s: ${Math.round(records / Math.max(seconds, 0.001))} records/s`,
  );
}

function parseRecord(line: string, number: number, partition: number | undefined): ProduceJsonRecord {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    throw new SpoolError('INVALID_ARGUMENT', `record ${number}: expected a JSON object, got ${JSON.stringify(line.slice(0, 40))}`);
  }
  return checkRecord(record, number, partition);
}

/** The shape the API takes, checked here so an error names the record's place in the input. */
function checkRecord(record: unknown, number: number, partition: number | undefined): ProduceJsonRecord {
  const shown = () => JSON.stringify(JSON.stringify(record)?.slice(0, 40) ?? String(record));
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new SpoolError('INVALID_ARGUMENT', `record ${number}: expected a JSON object with a value, got ${shown()}`);
  }
  const r = record as Record<string, unknown>;
  if (!('value' in r) || (r.value !== null && typeof r.value !== 'string')) {
    throw new SpoolError('INVALID_ARGUMENT', `record ${number}: value must be a string or null, got ${shown()}`);
  }
  if (r.key !== undefined && r.key !== null && typeof r.key !== 'string') {
    throw new SpoolError('INVALID_ARGUMENT', `record ${number}: key must be a string or null, got ${shown()}`);
  }
  const checked = r as unknown as ProduceJsonRecord;
  return partition !== undefined && checked.partition === undefined ? { ...checked, partition } : checked;
}
