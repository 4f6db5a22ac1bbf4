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
 * A second cluster runs with exactly-once source support (KIP-618, `exactlyOnceScenario` below):
 * a worker is killed (SIGKILL) while the source task's transaction is open, and the topic, read
 * read_committed, and the sink file must hold every line once, in order.
 *
 * Each scenario runs against the interop target (Spool, or Kafka with INTEROP_TARGET=kafka) and
 * against an Apache Kafka 3.9.1 broker started here, and both outcomes must be the same. Workers'
 * logs: test/interop/.build/logs/connect-*.log. About 55 s on Spool (its maintenance passes included) and 35 s on Kafka;
 * the exactly-once scenario about 60 s on Spool and 70 s on Kafka (its broker's start included).
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { killJavaApps, maintainUntil, onKafka, recordsKept, startJavaApp, topicConfig, waitFor } from './java-apps.js';
import { buildDir, freePort, maintenancePass } from './support.js';

const classpathFile = join(buildDir, 'connect.classpath');
const linesPerStep = 200;
/** Connect's internal topics, by the worker setting that names each (`config.storage.topic`...): `prefix-configs`... */
const internalTopicsOf = (prefix: string) =>
  ({ config: `${prefix}-configs`, offset: `${prefix}-offsets`, status: `${prefix}-status` }) as const;
const internalTopics = internalTopicsOf('connect');

/** A Connect cluster: its group, internal topics and the settings its workers add to the common ones. */
interface Cluster {
  readonly groupId: string;
  readonly topicPrefix: string;
  readonly settings: readonly string[];
}

const atLeastOnceCluster: Cluster = { groupId: 'spool-connect-cluster', topicPrefix: 'connect', settings: [] };

interface Worker {
  readonly id: string;
  readonly url: string;
  /** SIGTERM, as `kill` on connect-distributed.sh: the worker leaves its group and stops its tasks, committing their offsets. */
  stop(): Promise<void>;
  /** SIGKILL: a crash; the worker's producers and group membership are left for the server and the other workers to time out or fence. */
  kill(): Promise<void>;
}

/** A Connect worker in distributed mode, its REST API on `port`, once that API answers. */
async function startWorker(
  dir: string,
  bootstrap: string,
  port: number,
  logName: string,
  cluster: Cluster = atLeastOnceCluster,
): Promise<Worker> {
  if (!existsSync(classpathFile)) throw new Error(`${classpathFile} is missing: run test/interop/setup.sh`);
  const properties = join(dir, `worker-${port}.properties`);
  const topicSettings = ['segment.ms=500', 'min.cleanable.dirty.ratio=0.01', 'delete.retention.ms=1000'];
  writeFileSync(
    properties,
    [
      `bootstrap.servers=${bootstrap}`,
      `group.id=${cluster.groupId}`,
      'key.converter=org.apache.kafka.connect.json.JsonConverter',
      'value.converter=org.apache.kafka.connect.json.JsonConverter',
      ...Object.entries(internalTopicsOf(cluster.topicPrefix)).flatMap(([store, topic]) => [
        `${store}.storage.topic=${topic}`,
        `${store}.storage.replication.factor=1`,
        ...topicSettings.map((setting) => `${store}.storage.${setting}`),
      ]),
      'offset.storage.partitions=5',
      'offset.flush.interval.ms=1000',
      'scheduled.rebalance.max.delay.ms=3000', // the wait before a departed worker's work is reassigned (5 min by default)
      `listeners=http://127.0.0.1:${port}`,
      'plugin.discovery=only_scan',
      ...cluster.settings,
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
    kill: async () => {
      await app.stop('SIGKILL');
    },
  };
}

/** GET `path` without a body, POST with one; PUT with `method` (pause, resume: 202 and no body). */
async function rest<T>(url: string, path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST'): Promise<T> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A FileStreamSource of `file` into `topic`; Connect creates the topic (one partition: the sink file keeps the source's order). */
const sourceConfig = (file: string, topic: string): Record<string, string> => ({
  'connector.class': 'org.apache.kafka.connect.file.FileStreamSourceConnector',
  'tasks.max': '1',
  file,
  topic,
  'topic.creation.default.partitions': '1',
  'topic.creation.default.replication.factor': '1',
});

/** A FileStreamSink of `topic` into `file`. */
const sinkConfig = (file: string, topic: string): Record<string, string> => ({
  'connector.class': 'org.apache.kafka.connect.file.FileStreamSinkConnector',
  'tasks.max': '1',
  file,
  topics: topic,
});

interface ConnectorStatus {
  readonly connector: { readonly state: string; readonly worker_id: string };
  readonly tasks: readonly { readonly id: number; readonly state: string; readonly worker_id: string }[];
}

/**
 * The workers running each connector and task, once every one of them is RUNNING (or PAUSED where
 * `paused` names the connector) (else undefined).
 */
async function running(url: string, paused?: string): Promise<string[] | undefined> {
  const statuses = await rest<Record<string, { status: ConnectorStatus }>>(url, '/connectors?expand=status').catch(() => undefined);
  if (!statuses || Object.keys(statuses).length !== 2) return undefined;
  const units = Object.entries(statuses).flatMap(([name, { status }]) =>
    [status.connector, ...status.tasks].map((unit) => ({ ...unit, expected: name === paused ? 'PAUSED' : 'RUNNING' })),
  );
  if (units.length !== 4 || units.some((unit) => unit.state !== unit.expected)) return undefined;
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
    await rest(a.url, '/connectors', { name: 'source', config: sourceConfig(source, topic) });
    await rest(a.url, '/connectors', { name: 'sink', config: sinkConfig(sink, topic) });
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
      // The restarted worker reads its offsets and statuses from cleaned topics: fewer records than offsets.
      const cleanedTopics = [internalTopics.offset, internalTopics.status];
      const kept = async () => Promise.all(cleanedTopics.map((internal) => recordsKept(bootstrap, internal)));
      await maintainUntil(maintain, async () => (await kept()).every(({ records, offsets }) => records < offsets));
      for (const [i, { records, offsets }] of (await kept()).entries()) expect(records, cleanedTopics[i]).toBeLessThan(offsets);
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

/**
 * The exactly-once cluster (KIP-618): each source task writes through a transactional producer
 * (transactional id `<group>-<connector>-<task>`) and its offsets into the offsets topic in the same
 * transaction; the leader fences a source connector's earlier tasks (Admin.fenceProducers:
 * InitProducerId with their transactional ids) before its new ones start, and writes the config
 * topic through a transactional producer of its own. The sink tasks' consumers read read_committed.
 * A worker killed is out of the group after the 6 s session timeout (10 s by default).
 */
const exactlyOnceCluster: Cluster = {
  groupId: 'spool-connect-eos',
  topicPrefix: 'connect-eos',
  settings: [
    'exactly.once.source.support=enabled',
    'consumer.isolation.level=read_committed',
    'session.timeout.ms=6000',
    'heartbeat.interval.ms=1000',
  ],
};

/**
 * The values (JsonConverter's `payload`) of a one-partition topic's records in offset order, read
 * from the start to the end ListOffsets answers kafkajs (read_committed: the last stable offset),
 * with `readUncommitted` as the reader's isolation level.
 */
async function topicLines(bootstrap: string, topic: string, readUncommitted: boolean): Promise<string[]> {
  const kafka = new Kafka({ clientId: 'interop-connect-read', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const end = Number((await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect()))[0]!.high);
  const read = new Map<number, string>();
  if (end === 0) return [];
  let reached = false;
  const consumer = kafka.consumer({ groupId: `interop-connect-read-${randomUUID()}`, readUncommitted, maxWaitTimeInMs: 500 });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    // A batch of markers only is reported here too: the end is reached whether the last offset is a record or a marker.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (Number(payload.lastOffset) >= end - 1) reached = true;
    });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const offset = Number(message.offset);
        if (offset < end) read.set(offset, (JSON.parse(message.value!.toString()) as { payload: string }).payload);
      },
    });
    await waitFor(`a read of ${topic} to offset ${end}`, 60_000, () => reached);
  } finally {
    await consumer.disconnect();
  }
  return [...read.entries()].sort(([a], [b]) => a - b).map(([, line]) => line);
}

/** `got` against `expected`: equal, or how many lines and where they first differ. */
function departure(got: readonly string[], expected: readonly string[]): string {
  const at = expected.findIndex((line, i) => got[i] !== line);
  if (at === -1 && got.length === expected.length) return 'the source file, line for line';
  const i = at === -1 ? expected.length : at;
  return `${got.length} lines for ${expected.length}, first departing at line ${i + 1}: ${JSON.stringify(got[i])} for ${JSON.stringify(expected[i])}`;
}

interface ExactlyOnceOutcome {
  /** The lines topic read read_committed, against the source file. */
  readonly committed: string;
  /** The sink file against the source file. */
  readonly sunk: string;
  /** Whether the topic read read_uncommitted holds more lines than read_committed: those of the killed task's aborted transaction. */
  readonly abortedLinesOnTopic: boolean;
}

/**
 * The exactly-once scenario against one server:
 *
 * 1. workers A and B start in an exactly-once cluster; a FileStreamSource created with
 *    `exactly.once.support=required` and `transaction.boundary=interval` (a transaction every 4 s:
 *    one is open nearly all the time lines flow, so the kill below cuts one), and a FileStreamSink;
 *    200 lines go through;
 * 2. the sink is paused once it has committed its offsets (a sink is at least once: a sink task
 *    killed between writing lines and committing their offsets writes them again, on Kafka too);
 * 3. lines flow, 10 every 100 ms, and once a read_uncommitted reader sees records past the last
 *    stable offset (a transaction open), the worker running the source task is killed (SIGKILL):
 *    the other worker fences the task's transactional id and resumes it from the offsets committed
 *    with its last committed transaction; the killed transaction is aborted;
 * 4. 100 more lines; the killed worker starts again; the sink resumes; 100 more lines;
 * 5. the topic read read_committed and the sink file must each equal the source file, line for
 *    line: none lost, none doubled, in order.
 */
async function exactlyOnceScenario(name: string, bootstrap: string): Promise<ExactlyOnceOutcome> {
  const dir = await mkdtemp(join(tmpdir(), `spool-connect-eos-${name}-`));
  const [source, sink] = [join(dir, 'in.txt'), join(dir, 'out.txt')];
  writeFileSync(source, '');
  const ports = [await freePort(), await freePort()] as const;
  let written = 0;
  const write = (count: number) => {
    const batch = Array.from({ length: count }, () => `line ${++written} of the source file`);
    appendFileSync(source, batch.map((line) => `${line}\n`).join(''));
  };
  const sunkAll = (what: string) => waitFor(what, 60_000, () => lines(sink).length >= written);
  const topic = `connect-eos-lines-${name}`;
  const kafka = new Kafka({ clientId: 'interop-connect-eos', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const watcher = kafka.consumer({ groupId: `interop-connect-watch-${randomUUID()}`, readUncommitted: true, maxWaitTimeInMs: 100 });
  try {
    const workers = await Promise.all(
      ports.map((port, i) => startWorker(dir, bootstrap, port, `eos-${name}-${'ab'[i]}`, exactlyOnceCluster)),
    );
    const create = (name: string, config: Record<string, string>) =>
      // Either worker forwards to the leader, once there is one (409 while the cluster forms).
      waitFor(`connector ${name} to be created`, 60_000, () =>
        rest(workers[0]!.url, '/connectors', { name, config }).then(
          () => true,
          (error: Error) => {
            if (/: 409 /.test(error.message)) return false;
            throw error;
          },
        ),
      );
    await create('eos-source', {
      ...sourceConfig(source, topic),
      'exactly.once.support': 'required',
      'transaction.boundary': 'interval',
      'transaction.boundary.interval.ms': '4000',
    });
    await create('eos-sink', sinkConfig(sink, topic));
    write(linesPerStep);
    await sunkAll('the first lines to reach the sink');

    await rest(workers[0]!.url, '/connectors/eos-sink/pause', undefined, 'PUT');
    await waitFor('the sink to pause', 60_000, async () => (await running(workers[0]!.url, 'eos-sink')) !== undefined);
    await admin.connect();
    // Every line it wrote committed (a record's offset + 1: the topic's end is past the last commit marker).
    const stableEnd = async () => Number((await admin.fetchTopicOffsets(topic))[0]!.high);
    await waitFor('the paused sink to commit its offsets', 30_000, async () => {
      const [committed] = await admin.fetchOffsets({ groupId: 'connect-eos-sink', topics: [topic] }); // connect-<sink connector>
      return Number(committed?.partitions[0]?.offset ?? -1) >= (await stableEnd()) - 1;
    });

    let uncommittedEnd = -1;
    await watcher.connect();
    await watcher.subscribe({ topic, fromBeginning: true });
    await watcher.run({
      eachMessage: async ({ message }) => {
        uncommittedEnd = Math.max(uncommittedEnd, Number(message.offset));
      },
    });
    let flowing = true;
    const flow = (async () => {
      for (; flowing; await sleep(100)) write(10);
    })();
    const status = await rest<ConnectorStatus>(workers[0]!.url, '/connectors/eos-source/status');
    const victim = workers.findIndex((worker) => worker.id === status.tasks[0]?.worker_id);
    if (victim === -1) throw new Error(`the source task runs on none of the workers: ${JSON.stringify(status)}`);
    await waitFor("the source task's transaction to be open", 30_000, async () => uncommittedEnd >= (await stableEnd()));
    await workers[victim]!.kill();
    await sleep(1000);
    flowing = false;
    await flow;
    const survivor = workers[1 - victim]!;
    await waitFor(
      "the killed worker's work to move to the other worker",
      60_000,
      async () => (await running(survivor.url, 'eos-sink'))?.every((id) => id === survivor.id) ?? false,
    );
    write(linesPerStep / 2);
    workers[victim] = await startWorker(dir, bootstrap, ports[victim]!, `eos-${name}-${'ab'[victim]}-restarted`, exactlyOnceCluster);
    await waitFor('the restarted worker to see every connector and task', 60_000, async () =>
      Boolean(await running(workers[victim]!.url, 'eos-sink')),
    );
    await rest(survivor.url, '/connectors/eos-sink/resume', undefined, 'PUT');
    write(linesPerStep / 2);
    await sunkAll('every line to reach the sink');
    await sleep(2000); // a line doubled by a replay would be in the file by now

    const expected = lines(source);
    const [committed, uncommitted] = [await topicLines(bootstrap, topic, false), await topicLines(bootstrap, topic, true)];
    await Promise.all(workers.map((worker) => worker.stop()));
    return {
      committed: departure(committed, expected),
      sunk: departure(lines(sink), expected),
      abortedLinesOnTopic: uncommitted.length > committed.length,
    };
  } finally {
    killJavaApps();
    await watcher.disconnect();
    await admin.disconnect();
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

describe('Kafka Connect 3.9.1 with exactly-once source support (KIP-618)', () => {
  const expected: ExactlyOnceOutcome = {
    committed: 'the source file, line for line',
    sunk: 'the source file, line for line',
    abortedLinesOnTopic: true,
  };

  it(`on the interop target (${inject('interopTarget')}): a worker killed with the source's transaction open, the topic read_committed and the sink file hold every line once, in order`, async () => {
    expect(await exactlyOnceScenario('target', inject('interopBootstrap'))).toEqual(expected);
  }, 300_000);

  it('on Apache Kafka 3.9.1, started here: the same outcome', async () => {
    expect(await onKafka((bootstrap) => exactlyOnceScenario('kafka', bootstrap))).toEqual(expected);
  }, 300_000);
});
