/**
 * HTTP produce and fetch through the agent, 1 KiB records, the agent in its own process and the load
 * from this one (both on this machine's 2 cores). Three runs per workload; medians reported.
 *
 *   embedded store:  produce NDJSON (1,000 records = 1 MiB per request, 4 in flight)
 *                    produce JSON   (500 records per request, 4 in flight)
 *                    fetch          (max_bytes 4 MiB per request, one consumer, from offset 0)
 *   S3 model:        produce latency at a moderate rate (100 records per request, 4 in flight),
 *                    compared with linger + PUT p99 + commit p99 of the model; bulk produce; a
 *                    catch-up fetch with the chunk cache off, so every chunk is a modelled GET
 * Peak RSS is the agent's VmHWM at the end of a mode.
 *
 *   npm run bench -- http
 */
import { dynamoDb, s3Standard } from './support/latency-model.js';
import { median, percentile, startAgent as startAgentProcess, stopAgent } from './support/process.js';

const recordBytes = 1024;
const runs = 3;
const batchIntervalMs = 10;

const startAgent = (env: Record<string, string>) => startAgentProcess({ SPOOL_BATCH_INTERVAL_MS: String(batchIntervalMs), ...env });

interface RunResult {
  mbPerS: number;
  recordsPerS: number;
  p50Ms: number;
  p99Ms: number;
}

/** Sends `requests` bodies with `inFlight` concurrent, timing each; all must succeed. */
async function produceRun(
  url: string,
  topic: string,
  body: string,
  contentType: string,
  recordsPerRequest: number,
  requests: number,
  inFlight: number,
): Promise<RunResult> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < requests) {
        next++;
        const t0 = performance.now();
        const response = await fetch(`${url}/v1/topics/${topic}/records`, {
          method: 'POST',
          headers: { 'content-type': contentType },
          body,
        });
        const text = await response.text();
        if (response.status !== 200) throw new Error(`produce answered ${response.status}: ${text.slice(0, 200)}`);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const records = requests * recordsPerRequest;
  return {
    mbPerS: (records * recordBytes) / 1e6 / seconds,
    recordsPerS: records / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

async function fetchRun(url: string, topic: string, total: number): Promise<RunResult> {
  const latencies: number[] = [];
  let offset = 0;
  let bytes = 0;
  const started = performance.now();
  while (offset < total) {
    const t0 = performance.now();
    const response = await fetch(
      `${url}/v1/topics/${topic}/partitions/0/records?offset=${offset}&max_bytes=${4 * 1024 * 1024}&max_records=100000`,
    );
    const body = (await response.json()) as { records: { value: string }[]; next_offset: number };
    latencies.push(performance.now() - t0);
    for (const record of body.records) bytes += record.value.length;
    offset = body.next_offset;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    mbPerS: bytes / 1e6 / seconds,
    recordsPerS: total / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

function summarise(name: string, results: RunResult[]): string {
  const f = (n: number) => n.toFixed(1);
  return `| ${name} | ${f(median(results.map((r) => r.mbPerS)))} | ${Math.round(median(results.map((r) => r.recordsPerS)))} | ${f(median(results.map((r) => r.p50Ms)))} | ${f(median(results.map((r) => r.p99Ms)))} |`;
}

const value = 'x'.repeat(recordBytes - 1);
/** One value per line (text/plain, as a console producer sends). */
const lines = (count: number) => `${value}\n`.repeat(count);
const json = (count: number) => JSON.stringify({ records: Array.from({ length: count }, () => ({ value: `${value}y` })) });

console.log(
  `HTTP benchmark, ${new Date().toISOString()}, Node ${process.version}, linger ${batchIntervalMs} ms, 1 KiB records, median of ${runs} runs`,
);
console.log('| workload | MB/s | records/s | p50 ms | p99 ms |');
console.log('|---|---|---|---|---|');

// ---- embedded store -------------------------------------------------------------------------------
{
  const agent = await startAgent({});
  const ndjsonRuns: RunResult[] = [];
  const jsonRuns: RunResult[] = [];
  const fetchRuns: RunResult[] = [];
  for (let run = 0; run < runs; run++) {
    const topic = `nd-${run}`;
    ndjsonRuns.push(await produceRun(agent.url, topic, lines(1000), 'text/plain', 1000, 200, 4));
    jsonRuns.push(await produceRun(agent.url, `js-${run}`, json(500), 'application/json', 500, 200, 4));
    fetchRuns.push(await fetchRun(agent.url, topic, 200 * 1000));
  }
  const rssMb = await stopAgent(agent);
  console.log(summarise('embedded: produce text lines, 1,000 rec/request, 4 in flight', ndjsonRuns));
  console.log(summarise('embedded: produce JSON, 500 rec/request, 4 in flight', jsonRuns));
  console.log(summarise('embedded: fetch, 4 MiB per request, 1 consumer', fetchRuns));
  console.log(`embedded: agent peak RSS ${rssMb.toFixed(0)} MiB`);
}

// ---- S3 / DynamoDB latency model ------------------------------------------------------------------
{
  console.log(
    `model: ${s3Standard.name} p50 ${s3Standard.p50Ms} ms, p99 ${s3Standard.p99Ms} ms, ${(s3Standard.bytesPerMs * 1000) / 1024 / 1024} MiB/s per request; ` +
      `${dynamoDb.name} p50 ${dynamoDb.p50Ms} ms, p99 ${dynamoDb.p99Ms} ms; log-normal, seed 42`,
  );
  // No chunk cache: every fetch reads the modelled S3, as a consumer catching up would.
  const agent = await startAgent({ BENCH_MODEL: 's3', SPOOL_CACHE_BYTES: '0' });
  const latencyRuns: RunResult[] = [];
  const bulkRuns: RunResult[] = [];
  const fetchRuns: RunResult[] = [];
  for (let run = 0; run < runs; run++) {
    latencyRuns.push(await produceRun(agent.url, `lat-${run}`, lines(100), 'text/plain', 100, 600, 4));
    bulkRuns.push(await produceRun(agent.url, `bulk-${run}`, lines(1000), 'text/plain', 1000, 100, 8));
    fetchRuns.push(await fetchRun(agent.url, `bulk-${run}`, 100 * 1000));
  }
  const rssMb = await stopAgent(agent);
  console.log(summarise('S3 model: produce NDJSON, 100 rec/request, 4 in flight', latencyRuns));
  console.log(summarise('S3 model: produce NDJSON, 1,000 rec/request, 8 in flight', bulkRuns));
  console.log(summarise('S3 model: fetch from the object store (no cache), 4 MiB per request, 1 consumer', fetchRuns));
  const budget = batchIntervalMs + s3Standard.p99Ms + dynamoDb.p99Ms;
  const p99 = median(latencyRuns.map((r) => r.p99Ms));
  console.log(
    `S3 model: produce p99 ${p99.toFixed(1)} ms vs linger + PUT p99 + commit p99 = ${budget} ms: ratio ${(p99 / budget).toFixed(2)}`,
  );
  console.log(`S3 model: agent peak RSS ${rssMb.toFixed(0)} MiB`);
}
