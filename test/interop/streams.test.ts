/**
 * A Kafka Streams application (kafka-streams 3.9.1 from Maven Central; streams/, built by setup.sh):
 * Kafka Streams' word count, whose regrouping goes through a repartition topic (which Streams purges
 * with DeleteRecords, here every second) and whose counts live in a state store backed by a compacted changelog topic,
 * created by Streams itself with `segment.ms` 500 and `min.cleanable.dirty.ratio` 0.01 (its
 * `topic.` settings). Processing guarantee at_least_once, Streams' default; exactly_once_v2 needs
 * transactions, which Spool does not serve yet. The scenario:
 *
 * 1. instance A starts; 600 lines of words (a known count per word) go into a three-partition input
 *    topic, 100 at a time;
 * 2. once A has counted some, it is stopped (SIGTERM: it commits what it processed) while lines
 *    still arrive;
 * 3. 600 more lines; on Spool, maintenance passes clean the changelog (it must hold fewer records
 *    than offsets);
 * 4. instance B starts with an empty state directory, as on a new machine: it restores the counts
 *    from the cleaned changelog and goes on.
 *
 * The latest count of each word on the output topic must equal the exact count, and stay so. The
 * same scenario runs against the interop target (Spool, or Kafka with INTEROP_TARGET=kafka) and
 * against an Apache Kafka 3.9.1 broker started here; both outcomes must be the same. Logs:
 * test/interop/.build/logs/streams-*.log. About 30 s per server.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { type JavaApp, killJavaApps, onKafka, recordsKept, startJavaApp, topicConfig, waitFor } from './java-apps.js';
import { buildDir, maintenancePass } from './support.js';

const build = join(buildDir, 'streams');
const linesPerHalf = 600;
const vocabulary = Array.from({ length: 37 }, (_, i) => `word${i}`);

/** Line `i` of the input: five words of the vocabulary. */
const line = (i: number) => Array.from({ length: 5 }, (_, j) => vocabulary[(i * 7 + j * 3) % vocabulary.length]).join(' ');

function counts(lines: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < lines; i++) for (const word of line(i).split(' ')) out[word] = (out[word] ?? 0) + 1;
  return out;
}

/** An instance of the word count, once it reports RUNNING. */
async function startInstance(bootstrap: string, app: string, stateDir: string, logName: string): Promise<JavaApp> {
  if (!existsSync(join(build, 'classpath.txt'))) throw new Error(`${build} is missing: run test/interop/setup.sh`);
  const classpath = `${join(build, 'classes')}:${readFileSync(join(build, 'classpath.txt'), 'utf8').trim()}`;
  const instance = startJavaApp(
    [
      '-Xmx384m',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-cp',
      classpath,
      'spool.interop.StreamsWordCount',
      bootstrap,
      app,
      `${app}-in`,
      `${app}-out`,
      stateDir,
      'at_least_once',
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
  /** The latest count of each word on the output topic. */
  readonly counts: Record<string, number>;
  /** cleanup.policy of the changelog and the repartition topic. */
  readonly policies: Record<string, string>;
  /** Whether Streams purged the repartition topic (DeleteRecords) up to what it had processed: a log start above 0. */
  readonly repartitionPurged: boolean;
}

async function scenario(name: string, bootstrap: string, maintain?: () => Promise<number>): Promise<Outcome> {
  const dir = await mkdtemp(join(tmpdir(), `spool-streams-${name}-`));
  const app = `wordcount-${name}-${randomUUID().slice(0, 8)}`;
  const kafka = new Kafka({ clientId: 'streams-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: `${app}-reader` });
  const latest: Record<string, number> = {};
  try {
    await Promise.all([admin.connect(), producer.connect(), consumer.connect()]);
    await admin.createTopics({
      topics: [
        { topic: `${app}-in`, numPartitions: 3 },
        { topic: `${app}-out`, numPartitions: 1 },
      ],
    });
    await consumer.subscribe({ topic: `${app}-out`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        latest[message.key!.toString()] = Number(message.value!.readBigInt64BE());
      },
    });
    const produce = async (from: number, count: number) => {
      for (let start = from; start < from + count; start += 100)
        await producer.send({
          topic: `${app}-in`,
          messages: Array.from({ length: 100 }, (_, i) => ({ key: String(start + i), value: line(start + i) })),
        });
    };

    const a = await startInstance(bootstrap, app, join(dir, 'a'), `${name}-a`);
    const firstHalf = (async () => {
      for (let from = 0; from < linesPerHalf; from += 100) {
        await produce(from, 100);
        await sleep(200);
      }
    })();
    await waitFor('instance A to count part of the input', 60_000, () => Object.keys(latest).length > 0);
    // Stopped mid-stream, lines still arriving: it commits what it processed (a clean shutdown: the JVM ends as signalled).
    expect(await a.stop('SIGTERM')).toEqual({ code: 143, signal: null });
    await firstHalf;
    await produce(linesPerHalf, linesPerHalf);

    if (maintain) {
      for (let pass = 0; pass < 3; pass++) {
        await sleep(600); // past segment.ms: the flushes merge into segments the cleaner can take
        await maintain();
      }
      // Instance B restores the counts from a cleaned changelog: fewer records than offsets.
      const changelog = await recordsKept(bootstrap, `${app}-counts-changelog`);
      expect(changelog.records).toBeLessThan(changelog.offsets);
    }
    const b = await startInstance(bootstrap, app, join(dir, 'b'), `${name}-b`); // an empty state directory: restores from the changelog
    const expected = counts(2 * linesPerHalf);
    const exact = () => JSON.stringify(Object.entries(latest).sort()) === JSON.stringify(Object.entries(expected).sort());
    await waitFor('the output to reach the exact counts', 90_000, exact).catch((error) => console.warn(String(error))); // the comparison below says how
    await sleep(2000); // a count past the exact one (a record counted twice) would be out by now
    await b.stop('SIGTERM');

    const policies = await topicConfig(bootstrap, [`${app}-counts-changelog`, `${app}-words-repartition`], 'cleanup.policy');
    const repartition = await admin.fetchTopicOffsets(`${app}-words-repartition`);
    return {
      repartitionPurged: repartition.some((p) => Number(p.low) > 0),
      counts: { ...latest },
      policies: Object.fromEntries(Object.entries(policies).map(([topic, policy]) => [topic.slice(app.length + 1), policy])),
    };
  } finally {
    killJavaApps(); // a scenario that failed half-way leaves no instance behind
    await Promise.allSettled([consumer.disconnect(), producer.disconnect(), admin.disconnect()]);
    await rm(dir, { recursive: true, force: true });
  }
}

describe('Kafka Streams 3.9.1 word count (at_least_once)', () => {
  const expected: Outcome = {
    counts: counts(2 * linesPerHalf),
    policies: { 'counts-changelog': 'compact', 'words-repartition': 'delete' },
    repartitionPurged: true,
  };

  it(`on the interop target (${inject('interopTarget')}): restored from a cleaned changelog on a new instance, every count exact`, async () => {
    expect(await scenario('target', inject('interopBootstrap'), maintenancePass(inject('interopHttp')))).toEqual(expected);
  }, 300_000);

  it('on Apache Kafka 3.9.1, started here: the same outcome', async () => {
    expect(await onKafka((bootstrap) => scenario('kafka', bootstrap))).toEqual(expected);
  }, 300_000);
});
