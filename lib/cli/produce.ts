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
  const input = options.file ? createReadStream(options.file) : process.stdin;
  const totalBytes = options.file ? statSync(options.file).size : 0;
  const bar = options.file && process.stderr.isTTY ? new SingleBar({ format: ' {bar} {percentage}% | {records} records | {mb} MB | {rate} records/s', stream: process.stderr }) : undefined;
  bar?.start(totalBytes, 0, { records: 0, mb: '0.0', rate: 0 });
  const started = performance.now();
  let records = 0;
  let bytes = 0;

  let pending: string[] = [];
  let pendingBytes = 0;
  const send = async () => {
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    pendingBytes = 0;
    const answer =
      options.format === 'text'
        ? await client.produceLines(topic, `${lines.join('\n')}\n`, { acks: options.acks, keySeparator: options.keySeparator, partition: options.partition })
        : await client.produce(topic, lines.map((line, i) => parseRecord(line, records - lines.length + i + 1, options.partition)), options.acks);
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
    if (!Array.isArray(parsed)) throw new SpoolError('INVALID_ARGUMENT', `input must be a JSON array of records (--format json), got a ${typeof parsed}`);
    for (const item of parsed) {
      pending.push(JSON.stringify(item));
      records++;
      if (pending.length >= options.batchRecords) await send();
    }
  } else {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (options.format === 'ndjson' && line.trim() === '') continue;
      pending.push(line);
      records++;
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
  out.info(`produced ${records} records (${(bytes / 1e6).toFixed(1)} MB) to ${topic} in ${seconds.toFixed(1)} s: ${Math.round(records / Math.max(seconds, 0.001))} records/s`);
}

function parseRecord(line: string, number: number, partition: number | undefined): ProduceJsonRecord {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    throw new SpoolError('INVALID_ARGUMENT', `record ${number}: expected a JSON object, got ${JSON.stringify(line.slice(0, 40))}`);
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new SpoolError('INVALID_ARGUMENT', `record ${number}: expected a JSON object with a value, got ${JSON.stringify(line.slice(0, 40))}`);
  }
  const r = record as ProduceJsonRecord;
  return partition !== undefined && r.partition === undefined ? { ...r, partition } : r;
}
