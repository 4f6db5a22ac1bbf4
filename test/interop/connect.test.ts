/**
 * Kafka Connect in distributed mode (connect-runtime, connect-file and connect-json 3.9.1 from Maven
 * Central; connect/pom.xml), as its quickstart runs it: two workers in one Connect cluster, their
 * config, offset and status topics created by Connect itself as compacted topics, a
 * FileStreamSource reading a file into a topic and a FileStreamSink writing that topic to another
 * file. The scenario:
 *
 * 1. worker A starts (Connect creates its three internal topics, and refuses to start unless the
 *    server reports them `cleanup.policy=compact`); the source and sink connectors are created
 *    through its REST API; 200 lines go through;
 * 2. worker B joins the cluster and takes part of the work (incremental cooperative rebalancing);
 * 3. 200 more lines while worker A stops (SIGTERM, as `kill` on `connect-distributed.sh`): its
 *    connectors and tasks move to B;
 * 4. on Spool, maintenance passes clean the internal topics (they are created with `segment.ms` 500
 *    and `min.cleanable.dirty.ratio` 0.01 through Connect's `*.storage.*` topic settings; Kafka's
 *    own cleaner runs on its schedule): the offset and status topics must hold fewer records than
 *    offsets; then worker A starts again and worker B stops, so that A runs every connector and
 *    task from the configurations and offsets the cleaner kept;
 * 5. 200 more lines: the sink file must equal the source file, line for line, none lost, none
 *    doubled, in order.
 *
 * The same scenario runs against the interop target (Spool, or Kafka with INTEROP_TARGET=kafka) and
 * against an Apache Kafka 3.9.1 broker started here, and both outcomes must be the same. Workers'
 * logs: test/interop/.build/logs/connect-*.log. About 55 s on Spool (its maintenance passes included) and 35 s on Kafka.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { killJavaApps, onKafka, recordsKept, startJavaApp, topicConfig, waitFor } from './java-apps.js';
import { buildDir, freePort, maintenancePass } from './support.js';

const classpathFile = join(buildDir, 'connect.classpath');
const linesPerStep = 200;
/** Connect's internal topics, by the worker setting that names each (`config.storage.topic`...). */
const internalTopics = { config: 'connect-configs', offset: 'connect-offsets', status: 'connect-status' } as const;

interface Worker {
  readonly id: string;
  readonly url: string;
  /** SIGTERM, as `kill` on connect-distributed.sh: the worker leaves its group and stops its tasks, committing their offsets. */
  stop(): Promise<void>;
}

/** A Connect worker in distributed mode, its REST API on `port`, once that API answers. */
async function startWorker(dir: string, bootstrap: string, port: number, logName: string): Promise<Worker> {
  if (!existsSync(classpathFile)) throw new Error(`${classpathFile} is missing: run test/interop/setup.sh`);
  const properties = join(dir, `worker-${port}.properties`);
  const topicSettings = ['segment.ms=500', 'min.cleanable.dirty.ratio=0.01', 'delete.retention.ms=1000'];
  writeFileSync(
    properties,
    [
      `bootstrap.servers=${bootstrap}`,
      'group.id=spool-connect-cluster',
      'key.converter=org.apache.kafka.connect.json.JsonConverter',
      'value.converter=org.apache.kafka.connect.json.JsonConverter',
      ...Object.entries(internalTopics).flatMap(([store, topic]) => [
        `${store}.storage.topic=${topic}`,
        `${store}.storage.replication.factor=1`,
        ...topicSettings.map((setting) => `${store}.storage.${setting}`),
      ]),
      'offset.storage.partitions=5',
      'offset.flush.interval.ms=1000',
      'scheduled.rebalance.max.delay.ms=3000', // the wait before a departed worker's work is reassigned (5 min by default)
      `listeners=http://127.0.0.1:${port}`,
      'plugin.discovery=only_scan',
    ].join('\n'),
  );
  const log4j = join(dir, 'log4j.properties');
  writeFileSync(
    log4j,
    [
      'log4j.rootLogger=INFO, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.org.reflections=ERROR',
    ].join('\n'),
  );
  const classpath = readFileSync(classpathFile, 'utf8').trim();
  const app = startJavaApp(
    ['-Xmx384m', `-Dlog4j.configuration=file:${log4j}`, '-cp', classpath, 'org.apache.kafka.connect.cli.ConnectDistributed', properties],
    `connect-${logName}`,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`worker ${port} to answer GET /connectors (log: ${app.logFile})`, 90_000, async () => {
    if (app.child.exitCode !== null) throw new Error(`worker ${port} exited with ${app.child.exitCode}; log: ${app.logFile}`);
    return (await fetch(`${url}/connectors`).catch(() => undefined))?.status === 200;
  });
  return {
    id: `127.0.0.1:${port}`,
    url,
    stop: async () => {
      await app.stop('SIGTERM');
    },
  };
}

async function rest<T>(url: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${body === undefined ? 'GET' : 'POST'} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

interface ConnectorStatus {
  readonly connector: { readonly state: string; readonly worker_id: string };
  readonly tasks: readonly { readonly id: number; readonly state: string; readonly worker_id: string }[];
}

/** The workers running each connector and task, once every one of them is RUNNING (else undefined). */
async function running(url: string): Promise<string[] | undefined> {
  const statuses = await rest<Record<string, { status: ConnectorStatus }>>(url, '/connectors?expand=status').catch(() => undefined);
  if (!statuses || Object.keys(statuses).length !== 2) return undefined;
  const units = Object.values(statuses).flatMap(({ status }) => [status.connector, ...status.tasks]);
  if (units.length !== 4 || units.some((unit) => unit.state !== 'RUNNING')) return undefined;
  return units.map((unit) => unit.worker_id);
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

interface Outcome {
  /** The sink file's lines. */
  readonly sunk: readonly string[];
  /** What `kafka-configs --describe` answers for cleanup.policy on each internal topic. */
  readonly policies: Record<string, string>;
  /** Whether both workers ran some of the work once B had joined. */
  readonly shared: boolean;
}

/**
 * The scenario against one server; `maintain` (Spool) runs a maintenance pass and answers the
 * records it cleaned.
 */
async function scenario(name: string, bootstrap: string, maintain?: () => Promise<number>): Promise<Outcome> {
  const dir = await mkdtemp(join(tmpdir(), `spool-connect-${name}-`));
  const [source, sink] = [join(dir, 'in.txt'), join(dir, 'out.txt')];
  writeFileSync(source, '');
  const [portA, portB] = [await freePort(), await freePort()];
  let written = 0;
  const write = (count: number) => {
    const batch = Array.from({ length: count }, () => `line ${++written} of the source file`);
    appendFileSync(source, batch.map((line) => `${line}\n`).join(''));
  };
  const sunkAll = (what: string) => waitFor(what, 60_000, () => lines(sink).length >= written);
  try {
    let a = await startWorker(dir, bootstrap, portA, `${name}-a`);
    const topic = `connect-lines-${name}`;
    await rest(a.url, '/connectors', {
      name: 'source',
      config: {
        'connector.class': 'org.apache.kafka.connect.file.FileStreamSourceConnector',
        'tasks.max': '1',
        file: source,
        topic,
        // Connect creates the topic (one partition: the sink file keeps the source's order).
        'topic.creation.default.partitions': '1',
        'topic.creation.default.replication.factor': '1',
      },
    });
    await rest(a.url, '/connectors', {
      name: 'sink',
      config: { 'connector.class': 'org.apache.kafka.connect.file.FileStreamSinkConnector', 'tasks.max': '1', file: sink, topics: topic },
    });
    write(linesPerStep);
    await sunkAll('the first lines to reach the sink');

    const b = await startWorker(dir, bootstrap, portB, `${name}-b`);
    let shared = false;
    await waitFor('worker B to take part of the work', 60_000, async () => {
      const where = await running(b.url);
      shared = Boolean(where?.includes(a.id) && where.includes(b.id));
      return shared;
    });

    write(linesPerStep / 2);
    await a.stop();
    write(linesPerStep / 2);
    await waitFor("worker A's work to move to worker B", 60_000, async () => (await running(b.url))?.every((id) => id === b.id) ?? false);
    await sunkAll('the lines written while worker A stopped to reach the sink');

    if (maintain) {
      for (let pass = 0; pass < 3; pass++) {
        await sleep(600); // past segment.ms: the flushes merge into segments the cleaner can take
        await maintain();
      }
      // The restarted worker reads its offsets and statuses from cleaned topics: fewer records than offsets.
      for (const internal of [internalTopics.offset, internalTopics.status]) {
        const kept = await recordsKept(bootstrap, internal);
        expect(kept.records, internal).toBeLessThan(kept.offsets);
      }
    }
    a = await startWorker(dir, bootstrap, portA, `${name}-a-restarted`);
    // Worker B stops too: the restarted worker A runs everything, from the connectors' configurations and offsets as cleaned.
    await b.stop();
    await waitFor(
      'worker A to run every connector and task',
      90_000,
      async () => (await running(a.url))?.every((id) => id === a.id) ?? false,
    );
    write(linesPerStep);
    await sunkAll('the lines written after the restart to reach the sink');
    await sleep(3000); // two offset flushes: a line doubled by a replay would be in the file by now

    const policies = await topicConfig(bootstrap, Object.values(internalTopics), 'cleanup.policy');
    await a.stop();
    return { sunk: lines(sink), policies, shared };
  } finally {
    killJavaApps(); // a scenario that failed half-way leaves no worker behind
    await rm(dir, { recursive: true, force: true });
  }
}

describe('Kafka Connect 3.9.1 in distributed mode', () => {
  const expected: Outcome = {
    sunk: Array.from({ length: 3 * linesPerStep }, (_, i) => `line ${i + 1} of the source file`),
    policies: Object.fromEntries(Object.values(internalTopics).map((topic) => [topic, 'compact'])),
    shared: true,
  };

  it(`on the interop target (${inject('interopTarget')}): FileStreamSource -> topic -> FileStreamSink through a worker restart, no line lost or doubled`, async () => {
    expect(await scenario('target', inject('interopBootstrap'), maintenancePass(inject('interopHttp')))).toEqual(expected);
  }, 420_000);

  it('on Apache Kafka 3.9.1, started here: the same outcome', async () => {
    expect(await onKafka((bootstrap) => scenario('kafka', bootstrap))).toEqual(expected);
  }, 420_000);
});
