/**
 * `kafka-features.sh` (Apache Kafka 3.9.1's FeatureCommand, run as its shell script runs it) against
 * Spool: `describe` lists Spool's own feature, `spool.commit.version` (lib/log/features.ts), beside
 * `transaction.version`; `upgrade --dry-run` validates; `upgrade` raises it, after which the agent packs
 * its commits (GET /v1/cluster counts packed partitions) and clients read what they wrote. A level
 * not supported and a feature unknown fail the tool, as Kafka's controller refuses them; so do
 * `downgrade` and `disable`, which Spool refuses for this feature (levels only rise); none changes anything.
 *
 * The feature is Spool's own, and raising it changes how the agent commits: the test runs against a
 * Spool agent of its own started at level 0 (SPOOL_INITIAL_FEATURES, as a cluster an earlier version
 * wrote), whatever INTEROP_TARGET says, so the suite's shared server is left as it was. A second
 * agent, on a store of its own, shows a new cluster's level: 1.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { startTarget } from './support.js';
import { useKafkaTools } from './tool-runner.js';

// At level 0, as a cluster written by an earlier version is (a new cluster starts at 1: the last test).
const target = await startTarget({ INTEROP_TARGET: 'spool' }, { SPOOL_INITIAL_FEATURES: 'spool.commit.version=0' });
afterAll(() => target.close());
const fresh = await startTarget({ INTEROP_TARGET: 'spool' });
afterAll(() => fresh.close());
const freshTools = useKafkaTools(fresh.bootstrap);

const features = useKafkaTools(target.bootstrap);
const featureCommand = 'org.apache.kafka.tools.FeatureCommand';
const run = (...args: string[]) => features.result(featureCommand, args);
/** `describe`'s lines, by feature: its cells without their labels. */
const describeFeatures = async () => {
  const described = await features.stdout(featureCommand, ['describe']);
  return Object.fromEntries(
    described
      .trim()
      .split('\n')
      .map((line) => Object.fromEntries(line.split('\t').map((cell) => cell.split(': ') as [string, string])))
      .map(({ Feature, ...rest }) => [Feature, rest]),
  );
};

describe('interop > kafka-features.sh', () => {
  it('upgrades spool.commit.version to 1, after which the agent packs; refuses a level not supported, an unknown feature and any downgrade, changing nothing', async () => {
    expect(await describeFeatures()).toEqual({
      'spool.commit.version': { SupportedMinVersion: '0', SupportedMaxVersion: '1', FinalizedVersionLevel: '0', Epoch: '1' },
      'transaction.version': { SupportedMinVersion: '0', SupportedMaxVersion: '2', FinalizedVersionLevel: '2', Epoch: '1' },
    });
    for (const args of [
      ['upgrade', '--feature', 'spool.commit.version=2'],
      ['upgrade', '--feature', 'no.such.version=1'],
    ]) {
      const refused = await run(...args);
      expect(refused.exit, refused.stdout).toBe(1);
      expect(refused.stdout).toMatch(/^Could not upgrade /);
    }
    const dryRun = await run('upgrade', '--feature', 'spool.commit.version=1', '--dry-run');
    expect(dryRun).toMatchObject({ exit: 0, stdout: 'spool.commit.version can be upgraded to 1.\n' });
    expect((await describeFeatures())['spool.commit.version']).toMatchObject({ FinalizedVersionLevel: '0', Epoch: '1' });

    expect(await run('upgrade', '--feature', 'spool.commit.version=1')).toMatchObject({
      exit: 0,
      stdout: 'spool.commit.version was upgraded to 1.\n',
    });
    expect((await describeFeatures())['spool.commit.version']).toEqual({
      SupportedMinVersion: '0',
      SupportedMaxVersion: '1',
      FinalizedVersionLevel: '1',
      Epoch: '2',
    });
    for (const args of [
      ['downgrade', '--feature', 'spool.commit.version=0'],
      ['disable', '--feature', 'spool.commit.version'],
    ]) {
      const refused = await run(...args);
      expect(refused.exit, refused.stdout).toBe(1);
      expect(refused.stdout).toContain('levels only rise here');
    }
    expect((await describeFeatures())['spool.commit.version']).toMatchObject({ FinalizedVersionLevel: '1', Epoch: '2' });

    // Packed: a producer's partitions are taken packed; a consumer reads every record back.
    const kafka = new Kafka({ clientId: 'interop-features', brokers: [target.bootstrap], logLevel: logLevel.NOTHING });
    const topic = `features-${randomUUID().slice(0, 8)}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const values = Array.from({ length: 40 }, (_, i) => `v${i}`);
    await producer.send({ topic, messages: values.map((value, i) => ({ key: `k${i}`, value })) });
    await producer.disconnect();
    const cluster = (await (await fetch(`${target.httpUrl}/v1/cluster`)).json()) as { leadership: { packed: number }; features: object };
    expect(cluster.features).toEqual({ 'spool.commit.version': 1 });
    expect(cluster.leadership.packed).toBe(4);
    const consumer = kafka.consumer({ groupId: `features-${randomUUID().slice(0, 8)}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const read: string[] = [];
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ message }) => {
            read.push(message.value!.toString());
            if (read.length === values.length) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    expect(read.sort()).toEqual([...values].sort());
  });

  it('describes a new cluster at spool.commit.version 1: its first agent finalized the newest level (as Kafka formats a cluster)', async () => {
    const described = await freshTools.stdout(featureCommand, ['describe']);
    expect(described).toContain(
      'Feature: spool.commit.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\tFinalizedVersionLevel: 1\tEpoch: 2',
    );
  });
});
