/**
 * The soak: one agent process (`npm start`'s entry) under mixed load for a while, its resident memory
 * sampled, and a verdict on whether memory stays bounded. The load, all at once:
 *   - HTTP NDJSON produce (100 keyed 1 KiB records per request) to a topic of 8 partitions;
 *   - a kafkajs idempotent producer (50 records per send) to a second topic of 8 partitions;
 *   - a kafkajs consumer group of two members reading the second topic;
 *   - an HTTP consumer group member polling the first topic (auto-commit);
 *   - maintenance passes every 5 s (compaction, retention, garbage collection) in the agent.
 * Verdict: after a warm-up (the first quarter), the largest RSS of the last quarter is at most
 * 1.25 × the largest of the second quarter + 64 MiB. A leak grows without bound and fails it; caches
 * filling to their limits (chunk cache 64 MiB) happen in the warm-up.
 *
 * With `retentionSeconds` (`--retention-seconds n`) the two topics keep n seconds of records
 * (retention.ms) and unreferenced objects are collected after `gcGraceSeconds` (SPOOL_GC_GRACE_MS):
 * under sustained ingest the store can then reach a steady state, and the report gives its curve,
 * each maintenance pass's census after it (objects, bytes, rows; GET /v1/cluster) and duration, with
 * the same verdict on them as on memory (`storageSteady`: the last quarter's largest at most 1.25 × the
 * second quarter's + a margin). A pass that cannot keep up shows as rows and objects that keep growing.
 *
 * RSS alone cannot tell a leak from LMDB's memory map (counted in RSS as its pages are touched). With
 * `heapSnapshots: n` the agent writes n V8 heap snapshots (on SIGUSR2, `--heapsnapshot-signal`) at
 * evenly spaced moments of the load, the last shortly before it stops; after the run each is summarised
 * (live heap after the GC the snapshot forces, totals by kind) and deleted, and the report lists the
 * kinds that grew most from the first to the last. Beside each snapshot the agent's RSS is split
 * (from /proc) into anonymous memory (V8 heap, Buffer data, malloc) and LMDB's map. Writing a snapshot
 * stops the agent for a few seconds, and the full GC it forces lowers RSS for a while, so such a run's
 * RSS samples are not quite those of a run without snapshots.
 *
 *   node --import tsx test/reliability/soak.ts --seconds 600                      # the 10-minute soak
 *   node --import tsx test/reliability/soak.ts --seconds 900 --heap-snapshots 4   # with heap snapshots
 * Prints a JSON report (samples, records moved) and exits 1 when memory did not stay bounded.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { MaintenanceResult } from '../../lib/log/index.js';
import { startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { tempDir } from '../support/stores.js';
import { summariseHeapSnapshot, type HeapSummary, type KindTotal } from './heap-snapshot.js';
import { numberFlags, sleep } from './support.js';

export interface SoakOptions {
  /** Heap snapshots of the agent taken during the load, summarised in the report. @default 0 (none) */
  readonly heapSnapshots?: number;
  /** The topics' retention.ms in seconds; with it the report has the storage curve. @default none (the topics' default, 7 days) */
  readonly retentionSeconds?: number;
  /** With retentionSeconds: SPOOL_GC_GRACE_MS in seconds. @default 60 */
  readonly gcGraceSeconds?: number;
}

/** One maintenance pass's census after it, as the agent reports it. */
export interface StorageSample {
  /** Seconds from the start of the load to the end of the pass. */
  readonly atS: number;
  readonly objects: number;
  readonly bytesMiB: number;
  readonly rows: number;
  readonly passMs: number;
}

export interface MemorySample {
  /** Seconds from the start of the load. */
  readonly atS: number;
  /** The agent's resident memory (VmRSS): anonymous (RssAnon) plus file-backed (RssFile: the node binary and libraries, LMDB's map). */
  readonly rssMiB: number;
  readonly anonMiB: number;
  readonly fileMiB: number;
}

/** A heap snapshot's summary, beside the agent's memory just before it was asked for. */
export interface HeapSnapshotFigures extends MemorySample {
  /** Of fileMiB, LMDB's memory map (the Rss of `*.mdb` mappings in /proc/<pid>/smaps). */
  readonly lmdbMapMiB: number;
  /** The sum of the nodes' self sizes: the live V8 heap and ArrayBuffer data. */
  readonly heapMiB: number;
  /** Of heapMiB, ArrayBuffer (Buffer) data, which lives outside the V8 heap (`system / JSArrayBufferData`). */
  readonly arrayBufferDataMiB: number;
  readonly nodes: number;
  /** How long the agent took to write it (it serves nothing meanwhile). */
  readonly writeS: number;
  readonly byTypeMiB: Record<string, number>;
}

export interface HeapGrowth {
  readonly kind: string;
  /** Per snapshot, in order. */
  readonly count: number[];
  readonly bytes: number[];
}

export interface SoakReport {
  readonly seconds: number;
  readonly samples: MemorySample[];
  readonly httpRecordsProduced: number;
  readonly kafkaRecordsProduced: number;
  readonly kafkaRecordsConsumed: number;
  readonly httpRecordsConsumed: number;
  /** HTTP requests that failed at the connection (a reset keep-alive connection); retried, as clients do. */
  readonly connectionErrors: number;
  /** Kafka clients' crashes (kafkajs restarts a consumer after a retriable one) and failed disconnects at the end. */
  readonly kafkaClientErrors: string[];
  readonly bounded: boolean;
  readonly verdict: string;
  /** With `heapSnapshots`: each snapshot's figures. */
  readonly heapSnapshots?: HeapSnapshotFigures[];
  /** With 2 or more snapshots: the (at most) 15 kinds whose bytes, then count, grew most from the first snapshot to the last. */
  readonly heapGrowth?: HeapGrowth[];
  /** With retentionSeconds: each pass's census, and whether objects, bytes and rows reached a steady state. */
  readonly storage?: StorageSample[];
  readonly storageSteady?: boolean;
  readonly storageVerdict?: string;
}

export async function soak(seconds: number, options: SoakOptions = {}): Promise<SoakReport> {
  const snapshotCount = options.heapSnapshots ?? 0;
  const snapshotDir = snapshotCount > 0 ? tempDir('spool-soak-heap-') : undefined;
  const nodeOptions = [process.env.NODE_OPTIONS, snapshotDir && `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshotDir}`]
    .filter(Boolean)
    .join(' ');
  const dataDir = tempDir('spool-soak-');
  try {
    const retentionMs = options.retentionSeconds === undefined ? undefined : options.retentionSeconds * 1000;
    const agent = await startAgentProcess({
      SPOOL_DATA_DIR: dataDir,
      SPOOL_DEFAULT_PARTITIONS: '8',
      SPOOL_MAINTENANCE_INTERVAL_MS: '5000',
      SPOOL_COMPACTION_TAIL_AGE_MS: '2000',
      ...(retentionMs !== undefined && { SPOOL_GC_GRACE_MS: String((options.gcGraceSeconds ?? 60) * 1000) }),
      ...(nodeOptions && { NODE_OPTIONS: nodeOptions }),
    });
    try {
      if (retentionMs !== undefined)
        for (const name of ['soak-http', 'soak-kafka']) {
          const created = await fetch(`${agent.httpUrl}/v1/topics`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name, partitions: 8, config: { retention_ms: retentionMs } }),
          });
          if (!created.ok) throw new Error(`creating ${name}: ${created.status} ${await created.text()}`);
        }
      return await load(seconds, agent, snapshotCount, snapshotDir, retentionMs !== undefined);
    } finally {
      await agent.stop();
    }
  } finally {
    // A long run leaves gigabytes of segments and the snapshots.
    rmSync(dataDir, { recursive: true, force: true });
    if (snapshotDir) rmSync(snapshotDir, { recursive: true, force: true });
  }
}

async function load(
  seconds: number,
  agent: AgentProcess,
  snapshotCount: number,
  snapshotDir: string | undefined,
  withStorage: boolean,
): Promise<SoakReport> {
  const pid = agent.child.pid!;
  const startedMs = Date.now();
  const until = startedMs + seconds * 1000;
  const running = () => Date.now() < until;
  const sinceStartS = () => Math.round((Date.now() - startedMs) / 1000);
  const counts = { httpProduced: 0, kafkaProduced: 0, kafkaConsumed: 0, httpConsumed: 0, connectionErrors: 0 };
  const kafkaClientErrors: string[] = [];
  /** fetch, retried after a connection-level failure (not an HTTP error status). */
  const request = async (url: string, init?: RequestInit): Promise<Response> => {
    for (;;) {
      try {
        return await fetch(url, init);
      } catch {
        counts.connectionErrors++;
        await sleep(100);
      }
    }
  };
  const samples: MemorySample[] = [];
  const value = 'x'.repeat(1000);

  const storage: StorageSample[] = [];
  let lastPassEndedMs = 0;
  const sampler = (async () => {
    while (running()) {
      samples.push({ atS: sinceStartS(), ...residentMiB(pid) });
      if (withStorage) {
        const pass = await lastPass(agent.httpUrl);
        if (pass && pass.endedMs >= startedMs && pass.endedMs !== lastPassEndedMs) {
          lastPassEndedMs = pass.endedMs;
          storage.push({ ...pass.sample, atS: Math.round((pass.endedMs - startedMs) / 1000) });
        }
      }
      await sleep(Math.max(1000, (seconds * 1000) / 120));
    }
  })();

  // Snapshots at k/n of the run, the last moved a little before the end so it is written under load.
  const written: { figures: MemorySample & { lmdbMapMiB: number; writeS: number }; path: string }[] = [];
  const snapshotter = (async () => {
    if (!snapshotDir) return;
    for (let k = 1; k <= snapshotCount; k++) {
      const atMs =
        startedMs +
        Math.min((k * seconds * 1000) / snapshotCount, seconds * 1000 - Math.min(10_000, (seconds * 1000) / (2 * snapshotCount)));
      await sleep(atMs - Date.now());
      const before = { atS: sinceStartS(), ...residentMiB(pid), lmdbMapMiB: lmdbMapMiB(pid) };
      const { path, writeS } = await takeHeapSnapshot(pid, agent.httpUrl, snapshotDir);
      written.push({ figures: { ...before, writeS }, path });
    }
  })();

  const httpProducer = (async () => {
    for (let i = 0; running(); i++) {
      const body = Array.from({ length: 100 }, (_, j) => JSON.stringify({ key: `k${(i * 100 + j) % 500}`, value })).join('\n');
      const response = await request(`${agent.httpUrl}/v1/topics/soak-http/records`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body,
      });
      if (response.ok) counts.httpProduced += 100;
      await response.arrayBuffer();
    }
  })();

  const kafka = new Kafka({ brokers: [agent.kafkaBootstrap], logLevel: logLevel.NOTHING, clientId: 'soak' });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumers = [0, 1].map(() => kafka.consumer({ groupId: 'soak-kafka-group', sessionTimeout: 10_000, heartbeatInterval: 1000 }));
  const disconnect = (client: { disconnect(): Promise<void> }, name: string) =>
    client.disconnect().catch((error: Error) => void kafkaClientErrors.push(`${name} disconnect: ${error.name}: ${error.message}`));
  try {
    await producer.connect();
    const kafkaProducer = (async () => {
      for (let i = 0; running(); i++) {
        await producer.send({
          topic: 'soak-kafka',
          acks: -1,
          messages: Array.from({ length: 50 }, (_, j) => ({ key: `k${(i * 50 + j) % 500}`, value })),
        });
        counts.kafkaProduced += 50;
      }
    })();

    for (const [i, consumer] of consumers.entries()) {
      consumer.on(
        consumer.events.CRASH,
        ({ payload }) =>
          void kafkaClientErrors.push(
            `consumer ${i} crashed (${payload.restart ? '' : 'not '}restarted): ${payload.error.name}: ${payload.error.message}`,
          ),
      );
      await consumer.connect();
      await consumer.subscribe({ topic: 'soak-kafka', fromBeginning: true });
      await consumer.run({ eachBatch: async ({ batch }) => void (counts.kafkaConsumed += batch.messages.length) });
    }

    const httpConsumer = (async () => {
      const joined = await request(`${agent.httpUrl}/v1/groups/soak-http-group/members`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topics: ['soak-http'], auto_offset_reset: 'earliest' }),
      });
      const { member_id: memberId } = (await joined.json()) as { member_id: string };
      while (running()) {
        const polled = await request(`${agent.httpUrl}/v1/groups/soak-http-group/members/${memberId}/records?max_records=1000&wait_ms=500`);
        if (polled.ok) counts.httpConsumed += ((await polled.json()) as { records: unknown[] }).records.length;
        else await polled.arrayBuffer();
      }
    })();

    await Promise.all([sampler, httpProducer, kafkaProducer, httpConsumer, snapshotter]);
  } finally {
    for (const [i, consumer] of consumers.entries()) await disconnect(consumer, `consumer ${i}`);
    await disconnect(producer, 'producer');
  }

  // Read after the load, so parsing does not compete with the agent for the CPU.
  const summaries: HeapSummary[] = [];
  for (const { path } of written) {
    summaries.push(await summariseHeapSnapshot(path));
    rmSync(path);
  }
  const quarter = Math.max(1, Math.floor(samples.length / 4));
  const peak = (from: number, to: number) => Math.max(...samples.slice(from, to).map((s) => s.rssMiB));
  const second = peak(quarter, 2 * quarter);
  const last = peak(samples.length - quarter, samples.length);
  const limit = 1.25 * second + 64;
  return {
    ...(withStorage && storageVerdict(storage)),
    seconds,
    samples,
    httpRecordsProduced: counts.httpProduced,
    kafkaRecordsProduced: counts.kafkaProduced,
    kafkaRecordsConsumed: counts.kafkaConsumed,
    httpRecordsConsumed: counts.httpConsumed,
    connectionErrors: counts.connectionErrors,
    kafkaClientErrors,
    bounded: last <= limit,
    verdict: `peak RSS ${second} MiB in the second quarter, ${last} MiB in the last (limit ${Math.round(limit)} MiB)`,
    ...(snapshotDir &&
      heapFigures(
        written.map((snapshot) => snapshot.figures),
        summaries,
      )),
  };
}

/** The agent's last maintenance pass (GET /v1/cluster): when it ended, and its census after it. */
async function lastPass(httpUrl: string): Promise<{ endedMs: number; sample: Omit<StorageSample, 'atS'> } | undefined> {
  try {
    const response = await fetch(`${httpUrl}/v1/cluster`);
    if (!response.ok) return undefined;
    const { maintenance } = (await response.json()) as {
      maintenance: { ended_ms: number; result: MaintenanceResult } | null;
    };
    if (!maintenance || maintenance.result.stopped) return undefined;
    const { objects_after: objects, bytes_after: bytes, rows_after: rows, duration_ms: passMs } = maintenance.result;
    return { endedMs: maintenance.ended_ms, sample: { objects, bytesMiB: Math.round(bytes / MiB), rows, passMs } };
  } catch {
    return undefined; // a connection reset: the next sample asks again
  }
}

/**
 * Whether the store stopped growing: after the first quarter of the passes, the last quarter's largest
 * objects, bytes and rows are each at most 1.25 × the second quarter's + a margin (100 objects and rows,
 * 64 MiB), as the memory verdict.
 */
function storageVerdict(storage: readonly StorageSample[]): Pick<SoakReport, 'storage' | 'storageSteady' | 'storageVerdict'> {
  const quarter = Math.floor(storage.length / 4);
  if (quarter === 0) return { storage: [...storage], storageSteady: false, storageVerdict: `only ${storage.length} passes ended` };
  const peak = (of: 'objects' | 'bytesMiB' | 'rows', from: number, to: number) => Math.max(...storage.slice(from, to).map((s) => s[of]));
  const margins = { objects: 100, bytesMiB: 64, rows: 100 } as const;
  const parts = (Object.keys(margins) as (keyof typeof margins)[]).map((of) => {
    const [second, last] = [peak(of, quarter, 2 * quarter), peak(of, storage.length - quarter, storage.length)];
    const limit = Math.round(1.25 * second + margins[of]);
    return { steady: last <= limit, text: `${of} ${second} → ${last} (limit ${limit})` };
  });
  return {
    storage: [...storage],
    storageSteady: parts.every((part) => part.steady),
    storageVerdict: `peaks of the second quarter's passes → the last quarter's: ${parts.map((part) => part.text).join(', ')}`,
  };
}

/** The resident memory of process `pid`, from /proc/<pid>/status. */
function residentMiB(pid: number): Omit<MemorySample, 'atS'> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kiB = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return {
    rssMiB: Math.round(kiB('VmRSS') / 1024),
    anonMiB: Math.round(kiB('RssAnon') / 1024),
    fileMiB: Math.round(kiB('RssFile') / 1024),
  };
}

/** The resident part of process `pid`'s LMDB maps: the Rss of its mappings of `*.mdb` files. */
function lmdbMapMiB(pid: number): number {
  let inLmdb = false;
  let kiB = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inLmdb = line.trimEnd().endsWith('.mdb');
    else if (inLmdb && line.startsWith('Rss:')) kiB += Number(/(\d+)/.exec(line)?.[1] ?? 0);
  }
  return Math.round(kiB / 1024);
}

/**
 * Signals the agent to write a heap snapshot into `dir` and waits until it is written. The agent's main
 * thread takes and writes the snapshot without returning to its event loop, so once the file exists, the
 * answer to a request sent after that comes only when the file is complete.
 */
async function takeHeapSnapshot(pid: number, httpUrl: string, dir: string): Promise<{ path: string; writeS: number }> {
  const before = new Set(readdirSync(dir));
  const signalledMs = Date.now();
  process.kill(pid, 'SIGUSR2');
  let path: string | undefined;
  while (!path) {
    if (Date.now() - signalledMs > 300_000) throw new Error(`no heap snapshot in ${dir} 300 s after SIGUSR2`);
    await sleep(100);
    const name = readdirSync(dir).find((file) => file.endsWith('.heapsnapshot') && !before.has(file));
    if (name) path = join(dir, name);
  }
  for (;;) {
    try {
      await (await fetch(`${httpUrl}/healthz`)).arrayBuffer();
      break;
    } catch {
      await sleep(100); // a keep-alive connection reset meanwhile: ask again
    }
  }
  if (!existsSync(path)) throw new Error(`the heap snapshot ${path} is gone`);
  return { path, writeS: Math.round((Date.now() - signalledMs) / 100) / 10 };
}

const MiB = 1024 * 1024;
const toMiB = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

function heapFigures(
  written: readonly (MemorySample & { lmdbMapMiB: number; writeS: number })[],
  summaries: readonly HeapSummary[],
): Pick<SoakReport, 'heapSnapshots' | 'heapGrowth'> {
  const heapSnapshots = summaries.map((summary, i) => ({
    ...written[i]!,
    heapMiB: toMiB(summary.totalBytes),
    arrayBufferDataMiB: toMiB(summary.byKind.get('(native) system / JSArrayBufferData')?.bytes ?? 0),
    nodes: summary.nodeCount,
    byTypeMiB: Object.fromEntries(
      [...summary.byType].sort(([, a], [, b]) => b.bytes - a.bytes).map(([type, total]) => [type, toMiB(total.bytes)]),
    ),
  }));
  const first = summaries[0];
  const last = summaries.at(-1);
  if (!first || !last || summaries.length < 2) return { heapSnapshots };
  const kinds = new Set([...first.byKind.keys(), ...last.byKind.keys()]);
  const grew = (kind: string, of: keyof KindTotal) => (last.byKind.get(kind)?.[of] ?? 0) - (first.byKind.get(kind)?.[of] ?? 0);
  const heapGrowth = [...kinds]
    .filter((kind) => grew(kind, 'bytes') > 0 || grew(kind, 'count') > 0)
    .sort((a, b) => grew(b, 'bytes') - grew(a, 'bytes') || grew(b, 'count') - grew(a, 'count'))
    .slice(0, 15)
    .map((kind) => ({
      kind,
      count: summaries.map((summary) => summary.byKind.get(kind)?.count ?? 0),
      bytes: summaries.map((summary) => summary.byKind.get(kind)?.bytes ?? 0),
    }));
  return { heapSnapshots, heapGrowth };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const flags = numberFlags(process.argv.slice(2), { seconds: 600, 'heap-snapshots': 0, 'retention-seconds': -1, 'gc-grace-seconds': 60 });
  const { seconds, 'heap-snapshots': heapSnapshots, 'retention-seconds': retention, 'gc-grace-seconds': gcGraceSeconds } = flags;
  // A consumer's failed LeaveGroup once reached no handler inside kafkajs at the end of a 15-minute
  // run and ended the process before its report: say so, and let the run finish.
  process.on('unhandledRejection', (error) => console.error('soak: unhandled rejection (carrying on):', error));
  const report = await soak(seconds, { heapSnapshots, ...(retention >= 0 && { retentionSeconds: retention, gcGraceSeconds }) });
  console.log(JSON.stringify(report));
  process.exit(report.bounded && report.storageSteady !== false ? 0 : 1);
}
