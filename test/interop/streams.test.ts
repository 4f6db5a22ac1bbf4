/**
 * A Kafka Streams application (kafka-streams 3.9.1 from Maven Central; streams/, built by setup.sh):
 * Kafka Streams' word count, whose regrouping goes through a repartition topic (which Streams purges
 * with DeleteRecords, here every second) and whose counts live in a state store backed by a compacted changelog topic,
 * created by Streams itself with `segment.ms` 500 and `min.cleanable.dirty.ratio` 0.01 (its
 * `topic.` settings). One scenario, run with each processing guarantee:
 *
 * - at_least_once (Streams' default): instance A starts; lines of words (a known count per word)
 *   go into a three-partition input topic, 100 at a time (600 at least); once A has counted some,
 *   it is stopped (SIGTERM: it commits what it processed) while lines still arrive; 600 more lines; on
 *   Spool, maintenance passes clean the changelog (it must hold fewer records than before them);
 *   instance B starts with an empty state directory, as on a new machine: it restores the counts
 *   from the cleaned changelog and goes on.
 * - exactly_once_v2 (transactions: each stream thread's producer commits its output, its changelog
 *   and repartition records and the offsets it consumed in one transaction; Streams reads
 *   read_committed, as the test's reader does): instances in turn, each fed lines until it is
 *   stopped. A is killed (SIGKILL) once a transaction of its is open on the output; B starts in A's
 *   state directory (the same process id, hence the same transactional id: its InitProducerId fences
 *   A and aborts A's transaction); B is killed the same way, and C starts in a new state directory,
 *   as on a new machine: B's transaction (another transactional id) ends only by its timeout
 *   (transaction.timeout.ms 10 s), until which C's read of the repartition topic (read_committed)
 *   stops at B's records; C is stopped with SIGTERM (it commits), then as at_least_once: 600 more
 *   lines, the changelog cleaned on Spool, and D, in a new state directory, restores from it.
 *
 * The latest count of each word on the output topic must equal the exact count, and stay so. Under
 * exactly_once_v2 each word's counts on the output, read_committed, in offset order, must moreover
 * be exactly 1, 2, …, N (a record counted twice, which at_least_once may show, would repeat one),
 * and the output must hold, read_uncommitted, the killed instances' aborted records. The same
 * scenarios run against the interop target (Spool, or Kafka with INTEROP_TARGET=kafka) and against
 * an Apache Kafka 3.9.1 broker started here; both outcomes must be the same. Logs:
 * test/interop/.build/logs/streams-*.log (the producers' ids and epochs included). About 30 s per
 * server at_least_once, 70 s exactly_once_v2.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { type JavaApp, killJavaApps, maintainUntil, onKafka, recordsKept, startJavaApp, topicConfig, waitFor } from './java-apps.js';
import { buildDir, maintenancePass } from './support.js';

const build = join(buildDir, 'streams');
const linesPerHalf = 600;
const vocabulary = Array.from({ length: 37 }, (_, i) => `word${i}`);

type Guarantee = 'at_least_once' | 'exactly_once_v2';

/** How an instance is stopped mid-stream, and where its successor keeps its state. */
interface Stop {
  /** SIGTERM: Streams closes, committing what it processed; SIGKILL: a crash, mid-transaction under EOS. */
  readonly signal: 'SIGTERM' | 'SIGKILL';
  /**
   * The successor's state directory: the stopped instance's (the same machine: the same process id,
   * and under EOS the same transactional id) or a new, empty one (a new machine: it restores the
   * counts from the changelog).
   */
  readonly successor: 'same' | 'new';
}

/** Line `i` of the input: five words of the vocabulary. */
const line = (i: number) => Array.from({ length: 5 }, (_, j) => vocabulary[(i * 7 + j * 3) % vocabulary.length]).join(' ');

function counts(lines: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < lines; i++) for (const word of line(i).split(' ')) out[word] = (out[word] ?? 0) + 1;
  return out;
}

/** An instance of the word count, once it reports RUNNING. */
async function startInstance(bootstrap: string, app: string, guarantee: Guarantee, stateDir: string, logName: string): Promise<JavaApp> {
  if (!existsSync(join(build, 'classpath.txt'))) throw new Error(`${build} is missing: run test/interop/setup.sh`);
  const classpath = `${join(build, 'classes')}:${readFileSync(join(build, 'classpath.txt'), 'utf8').trim()}`;
  const instance = startJavaApp(
    [
      '-Xmx384m',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients.producer.internals.TransactionManager=info', // producer ids, epochs, fencing
      '-cp',
      classpath,
      'spool.interop.StreamsWordCount',
      bootstrap,
      app,
      `${app}-in`,
      `${app}-out`,
      stateDir,
      guarantee,
    ],
    `streams-${logName}`,
  );
  await waitFor(`${logName} to report RUNNING (log: ${instance.logFile})`, 90_000, () => {
    if (instance.child.exitCode !== null) throw new Error(`${logName} exited with ${instance.child.exitCode}; log: ${instance.logFile}`);
    return readFileSync(instance.logFile, 'utf8').includes('state RUNNING');
  });
  return instance;
}

interface Outcome {
  /** The words whose latest count on the output topic is not the exact count of the lines written: `counted (exact)`. */
  readonly miscounted: Record<string, string>;
  /**
   * The words whose counts on the output, in offset order, are not exactly 1, 2, …, N, each with
   * where its counts first depart from that (`word7: 42 at position 43`): a count repeated (a record
   * counted twice) or skipped.
   */
  readonly irregular: readonly string[];
  /**
   * Whether the output topic holds records a read_committed reader never got, read_uncommitted: those
   * of the transactions left open by the instances killed (each is killed once one is open there).
   */
  readonly abortedOnOutput: boolean;
  /** cleanup.policy of the changelog and the repartition topic. */
  readonly policies: Record<string, string>;
  /** Whether Streams purged the repartition topic (DeleteRecords) up to what it had processed: a log start above 0. */
  readonly repartitionPurged: boolean;
}

/**
 * Instances in turn, each started (the first in a new state directory) and fed lines, 100 at a time
 * (at least 600, and until it is stopped), and stopped as `stops` says once it has counted some
 * (killed once a transaction of its is open on the output), while its lines still arrive; then 600
 * more lines with none running, maintenance passes on Spool (`maintain`), and a last instance, which
 * must bring the output to the exact counts.
 */
async function scenario(
  name: string,
  bootstrap: string,
  guarantee: Guarantee,
  stops: readonly Stop[],
  maintain?: () => Promise<number>,
): Promise<Outcome> {
  const dir = await mkdtemp(join(tmpdir(), `spool-streams-${name}-`));
  const app = `wordcount-${name}-${randomUUID().slice(0, 8)}`;
  const kafka = new Kafka({ clientId: 'streams-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: `${app}-reader`, readUncommitted: false }); // read_committed
  const uncommittedConsumer = kafka.consumer({ groupId: `${app}-uncommitted-reader`, readUncommitted: true });
  /** The output as read (read_committed): word and count by offset (a record fetched again is counted once). */
  const output = new Map<number, readonly [string, number]>();
  /** The offsets of the output's records read read_uncommitted. */
  const uncommitted = new Set<number>();
  let uncommittedEnd = -1;
  const latest: Record<string, number> = {};
  const latestOffset: Record<string, number> = {};
  let produced = 0;
  try {
    await Promise.all([admin.connect(), producer.connect(), consumer.connect(), uncommittedConsumer.connect()]);
    await admin.createTopics({
      topics: [
        { topic: `${app}-in`, numPartitions: 3 },
        { topic: `${app}-out`, numPartitions: 1 },
      ],
    });
    await consumer.subscribe({ topic: `${app}-out`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const [offset, word, count] = [Number(message.offset), message.key!.toString(), Number(message.value!.readBigInt64BE())];
        output.set(offset, [word, count]);
        if (offset > (latestOffset[word] ?? -1)) [latest[word], latestOffset[word]] = [count, offset];
      },
    });
    await uncommittedConsumer.subscribe({ topic: `${app}-out`, fromBeginning: true });
    await uncommittedConsumer.run({
      eachMessage: async ({ message }) => {
        uncommitted.add(Number(message.offset));
        uncommittedEnd = Math.max(uncommittedEnd, Number(message.offset));
      },
    });
    const produce = async (count: number) => {
      for (const end = produced + count; produced < end; produced += 100)
        await producer.send({
          topic: `${app}-in`,
          messages: Array.from({ length: 100 }, (_, i) => ({ key: String(produced + i), value: line(produced + i) })),
        });
    };
    /**
     * The output topic's end as read_committed (ListOffsets answers the last stable offset): whatever a read_committed
     * reader reads at or past it was written by an instance started after; a record read_uncommitted at or past it is in
     * an open transaction.
     */
    const stableEnd = async () => Number((await admin.fetchTopicOffsets(`${app}-out`))[0]!.high);

    const instanceName = (i: number) => `${name}-${String.fromCharCode(97 + i)}`;
    let stateDir = join(dir, 'a');
    for (const [i, stop] of stops.entries()) {
      const from = await stableEnd();
      const instance = await startInstance(bootstrap, app, guarantee, stateDir, instanceName(i));
      let stopped = false;
      const lines = (async () => {
        for (let n = 0; n < linesPerHalf || !stopped; n += 100) {
          await produce(100);
          await sleep(200);
        }
      })();
      try {
        await waitFor(`instance ${instanceName(i)} to count part of the input`, 60_000, () =>
          Object.values(latestOffset).some((offset) => offset >= from),
        );
        // A crash mid-transaction: one of the instance's is open, its records on the output already.
        if (stop.signal === 'SIGKILL')
          await waitFor(
            `a transaction of ${instanceName(i)} open on the output`,
            30_000,
            async () => uncommittedEnd >= (await stableEnd()),
          );
        // Stopped mid-stream, lines still arriving. SIGTERM: a clean shutdown (the JVM ends as signalled); SIGKILL: a crash.
        expect(await instance.stop(stop.signal)).toEqual(
          stop.signal === 'SIGTERM' ? { code: 143, signal: null } : { code: null, signal: 'SIGKILL' },
        );
      } finally {
        stopped = true;
        await lines;
      }
      if (stop.successor === 'new') stateDir = join(dir, String.fromCharCode(98 + i));
    }
    await produce(linesPerHalf);

    if (maintain) {
      // The last instance restores the counts from a cleaned changelog: fewer records than were written (under EOS the
      // offsets spanned count the transaction markers too, so the records are counted before the passes as well).
      const written = await recordsKept(bootstrap, `${app}-counts-changelog`);
      const cleaned = async () => {
        const { records, offsets } = await recordsKept(bootstrap, `${app}-counts-changelog`);
        return records < written.records && records < offsets;
      };
      await maintainUntil(maintain, cleaned);
      const kept = await recordsKept(bootstrap, `${app}-counts-changelog`);
      expect(kept.records).toBeLessThan(written.records);
      expect(kept.records).toBeLessThan(kept.offsets);
    }
    const last = await startInstance(bootstrap, app, guarantee, stateDir, instanceName(stops.length));
    const expected = counts(produced);
    const miscounted = () =>
      Object.fromEntries(
        [...new Set([...Object.keys(expected), ...Object.keys(latest)])]
          .filter((word) => latest[word] !== expected[word])
          .map((word) => [word, `${latest[word] ?? 'none'} (${expected[word] ?? 'none'})`]),
      );
    const exact = () => Object.keys(miscounted()).length === 0;
    await waitFor('the output to reach the exact counts', 90_000, exact).catch((error) => console.warn(String(error))); // the comparison below says how
    await sleep(2000); // a count past the exact one (a record counted twice) would be out by now
    await last.stop('SIGTERM');

    const sequences: Record<string, number[]> = {};
    for (const [, [word, count]] of [...output].sort(([a], [b]) => a - b)) (sequences[word] ??= []).push(count);
    const irregular = Object.entries(sequences).flatMap(([word, seq]) => {
      const at = seq.findIndex((count, i) => count !== i + 1);
      return at < 0 ? [] : [`${word}: ${seq[at]} at position ${at + 1}`];
    });
    const policies = await topicConfig(bootstrap, [`${app}-counts-changelog`, `${app}-words-repartition`], 'cleanup.policy');
    const repartition = await admin.fetchTopicOffsets(`${app}-words-repartition`);
    return {
      repartitionPurged: repartition.some((p) => Number(p.low) > 0),
      miscounted: miscounted(),
      abortedOnOutput: [...uncommitted].some((offset) => !output.has(offset)),
      irregular: irregular.sort(),
      policies: Object.fromEntries(Object.entries(policies).map(([topic, policy]) => [topic.slice(app.length + 1), policy])),
    };
  } finally {
    killJavaApps(); // a scenario that failed half-way leaves no instance behind
    await Promise.allSettled([consumer.disconnect(), uncommittedConsumer.disconnect(), producer.disconnect(), admin.disconnect()]);
    await rm(dir, { recursive: true, force: true });
  }
}

const runs: readonly {
  guarantee: Guarantee;
  stops: readonly Stop[];
  expected: Pick<Outcome, 'irregular' | 'abortedOnOutput'>;
  what: string;
}[] = [
  {
    guarantee: 'at_least_once',
    stops: [{ signal: 'SIGTERM', successor: 'new' }],
    // at_least_once may count a record twice (not after a clean shutdown, as a rule); no transactions, none aborted
    expected: { irregular: expect.any(Array), abortedOnOutput: false },
    what: 'restored from a cleaned changelog on a new instance, every count exact',
  },
  {
    guarantee: 'exactly_once_v2',
    stops: [
      { signal: 'SIGKILL', successor: 'same' },
      { signal: 'SIGKILL', successor: 'new' },
      // Last a clean stop: no transaction is left open when the cleaner runs (it cleans no segment reaching past the last stable offset).
      { signal: 'SIGTERM', successor: 'new' },
    ],
    expected: { irregular: [], abortedOnOutput: true },
    what: 'killed mid-transaction twice (fenced by its successor, then timed out), then stopped: every count exact, each record counted once',
  },
];

describe.each(runs)('Kafka Streams 3.9.1 word count ($guarantee)', ({ guarantee, stops, expected: outcome, what }) => {
  const expected: Outcome = {
    miscounted: {},
    ...outcome,
    policies: { 'counts-changelog': 'compact', 'words-repartition': 'delete' },
    repartitionPurged: true,
  };
  const name = guarantee === 'at_least_once' ? '' : '-eos';

  it(`on the interop target (${inject('interopTarget')}): ${what}`, async () => {
    expect(await scenario(`target${name}`, inject('interopBootstrap'), guarantee, stops, maintenancePass(inject('interopHttp')))).toEqual(
      expected,
    );
  }, 300_000);

  it('on Apache Kafka 3.9.1, started here: the same outcome', async () => {
    expect(await onKafka((bootstrap) => scenario(`kafka${name}`, bootstrap, guarantee, stops))).toEqual(expected);
  }, 300_000);
});
