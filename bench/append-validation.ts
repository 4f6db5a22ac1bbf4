/**
 * What validating produced batches as Kafka does (lib/format/log-validator.ts) costs: every record is
 * read, compressed batches are inflated first, where the engine used to check only the header and
 * CRC of a compressed batch.
 *
 *   in-process:  validateAppend over 1 MiB batches of 1 KiB log lines (JSON, about 4:1 compressible),
 *                per codec, against the header + CRC check alone; 7 runs of 64 batches, median MB/s
 *                of uncompressed record bytes.
 *   end to end:  kcat -P of 100,000 such lines (98 MiB), acks=all, linger 20 ms, 1 MiB batches, per
 *                codec, into an agent; 3 runs, median MB/s. With SPOOL_BENCH_BASELINE=<checkout of an
 *                earlier commit> the same runs alternate with that checkout's agent (A/B on one machine).
 *
 *   npm run bench -- append-validation
 *   SPOOL_BENCH_BASELINE=/tmp/base npm run bench -- append-validation
 *   SPOOL_BENCH_PART=in-process npm run bench -- append-validation      # or end-to-end
 */
import { writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compressionReady, crc32c, encodeRecordBatch, readBatchHeader, validateAppend, type Compression } from '../lib/format/index.js';
import { kcatBulkSettings, kcatProduce } from './support/kafka-tools.js';
import { median, startAgent, stopAgent } from './support/process.js';

const codecs: Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const recordBytes = 1024;

/** A log line of about `bytes` bytes: JSON with a timestamp, a level, a few varying fields and a message. */
function logLine(i: number, bytes: number): string {
  const levels = ['INFO', 'WARN', 'DEBUG', 'ERROR'];
  const head = JSON.stringify({
    '@timestamp': new Date(1_700_000_000_000 + i * 37).toISOString(),
    level: levels[i % 4],
    host: `web-${i % 17}`,
    request_id: ((i * 2654435761) >>> 0).toString(16),
    status: 200 + (i % 5) * 100,
    duration_ms: (i * 7919) % 3000,
  });
  const words = ['user', 'checkout', 'cart', 'payment', 'retry', 'timeout', 'session', 'cache', 'miss', 'hit', 'order', 'item'];
  let message = '';
  for (let w = i; message.length < bytes - head.length - 16; w = (w * 31 + 7) % 1009) message += `${words[w % words.length]} ${w} `;
  return `${head.slice(0, -1)},"message":"${message.slice(0, bytes - head.length - 14)}"}`;
}

async function inProcess(): Promise<void> {
  await compressionReady();
  const nowMs = Date.now();
  const settings = {
    timestampType: 'CreateTime' as const,
    timestampBeforeMaxMs: Number.MAX_SAFE_INTEGER,
    timestampAfterMaxMs: 3_600_000,
    maxBatchBytes: 64 << 20,
    nowMs,
  };
  const perBatch = (1024 * 1024) / recordBytes;
  console.log('| codec | stored bytes per 1 MiB | header + CRC only, MB/s | validateAppend, MB/s | ratio |');
  console.log('|---|---|---|---|---|');
  for (const compression of codecs) {
    const batches = Array.from({ length: 64 }, (_, b) =>
      encodeRecordBatch(
        Array.from({ length: perBatch }, (_, i) => ({
          key: null,
          value: Buffer.from(logLine(b * perBatch + i, recordBytes)),
          timestampMs: nowMs - 1000 + i,
        })),
        { compression },
      ),
    );
    const rawBytes = 64 * perBatch * recordBytes;
    const rate = (work: (batch: Buffer) => void) => {
      const runs: number[] = [];
      for (let r = 0; r < 7; r++) {
        const started = performance.now();
        for (const batch of batches) work(batch);
        runs.push(rawBytes / 1e6 / ((performance.now() - started) / 1000));
      }
      return median(runs);
    };
    const headerOnly = rate((batch) => {
      const header = readBatchHeader(batch);
      if (crc32c(batch, 21, header.sizeBytes) !== header.crc) throw new Error('crc');
    });
    const full = rate((batch) => validateAppend(batch, settings));
    const stored = median(batches.map((batch) => batch.length));
    console.log(
      `| ${compression} | ${(stored / 1024).toFixed(0)} KiB | ${headerOnly.toFixed(0)} | ${full.toFixed(0)} | ${(full / headerOnly).toFixed(3)} |`,
    );
  }
}

async function endToEnd(): Promise<void> {
  const count = 100_000;
  const file = join(tmpdir(), `spool-bench-lines-${process.pid}.txt`);
  writeFileSync(file, `${Array.from({ length: count }, (_, i) => logLine(i, recordBytes - 1)).join('\n')}\n`);
  const baseline = process.env.SPOOL_BENCH_BASELINE;
  const trees = [{ name: 'this tree', root: undefined }, ...(baseline ? [{ name: `baseline (${baseline})`, root: baseline }] : [])];
  const env = { SPOOL_DEFAULT_PARTITIONS: '8', SPOOL_BATCH_INTERVAL_MS: '10', SPOOL_MAINTENANCE_INTERVAL_MS: '0' };
  console.log(`\n| codec | ${trees.map((tree) => `${tree.name}, MB/s`).join(' | ')}${baseline ? ' | ratio' : ''} |`);
  console.log(`|---|${trees.map(() => '---|').join('')}${baseline ? '---|' : ''}`);
  try {
    for (const compression of codecs) {
      const runs = trees.map(() => [] as number[]);
      for (let r = 0; r < 3; r++) {
        for (const [t, tree] of trees.entries()) {
          const agent = await startAgent(env, { root: tree.root });
          try {
            const settings = [...kcatBulkSettings, `compression.codec=${compression}`];
            runs[t]!.push(
              (await kcatProduce(agent.kafka, `lines-${compression}`, { path: file, records: count, recordBytes }, settings)).mbPerS,
            );
          } finally {
            await stopAgent(agent);
          }
        }
      }
      const medians = runs.map((values) => median(values));
      console.log(
        `| ${compression} | ${medians.map((m, t) => `${m.toFixed(1)} (${runs[t]!.map((v) => v.toFixed(1)).join(', ')})`).join(' | ')}${baseline ? ` | ${(medians[0]! / medians[1]!).toFixed(2)}` : ''} |`,
      );
    }
  } finally {
    rmSync(file, { force: true });
  }
}

console.log(`append validation, ${new Date().toISOString()}\n`);
const part = process.env.SPOOL_BENCH_PART; // in-process | end-to-end; both when unset
if (part !== 'end-to-end') await inProcess();
if (part !== 'in-process') await endToEnd();
