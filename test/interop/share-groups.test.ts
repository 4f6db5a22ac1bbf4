/**
 * Share groups (KIP-932) with a real client: kafka-clients 4.4's KafkaShareConsumer (kip848/
 * ShareInterop, built by setup.sh). A group config set with Admin (share.auto.offset.reset), a
 * consumer that leaves holding records (released at once), three workers that release, reject and
 * accept: every record accepted or rejected once, the released ones delivered a second time. Then
 * the same share group over HTTP: each partition settled to its end, the rejected records counted
 * dead. The differential harness runs the same program against Apache Kafka 4.x. And Spool's
 * delayed delivery (ShareDelayInterop): a record of a batch held back until its spool.deliver.at.ms,
 * which the client, handed the batch with the record left out of its acquired ranges, skips.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, inject, it } from 'vitest';
import { javaProgram, runToEnd } from './clients.js';
import { buildDir } from './support.js';

const build = join(buildDir, 'kip848');
const partitions = 3;
const records = 300;

describe('interop > share groups with kafka-clients 4.4 (KafkaShareConsumer)', () => {
  const bootstrap = inject('interopBootstrap');
  const httpUrl = inject('interopHttp');

  beforeEach(() => {
    if (!existsSync(join(build, 'classpath.txt')))
      throw new Error(`the share consumer program is not built (${build}); run test/interop/setup.sh`);
  });

  it('shares the partitions, redelivers released records, counts rejected ones dead, and serves the same group over HTTP', async () => {
    const id = randomUUID().slice(0, 8);
    const topic = `share-${id}`;
    const group = `share-group-${id}`;
    const command = [...javaProgram(build, 'spool.interop.ShareInterop'), bootstrap, topic, group, String(partitions), String(records)];
    const { stdout } = await runToEnd(command, '', 'share consumers');
    const steps = Object.fromEntries(
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { step: string; result: unknown })
        .map(({ step, result }) => [step, result]),
    );
    // Values ending in 3 (but v3) are rejected; those ending in 7 released at their first delivery.
    const rejected = Array.from({ length: records }, (_, i) => `v${i}`).filter((v) => v.endsWith('3') && v.length > 2).length;
    const sevens = Array.from({ length: records }, (_, i) => i).filter((i) => i % 10 === 7).length;
    expect(steps).toEqual({
      configure: 'ok',
      quitter: { held: true },
      describe: { state: 'Stable', members: 3 },
      workers: {
        records,
        accepted: records - rejected,
        acceptedTwice: 0,
        rejected,
        redeliveredAtTwo: sevens,
        maxDelivery: 2,
        releasedSome: true,
      },
      'describe-after': { state: 'Empty', members: 0 },
    });

    if (httpUrl !== undefined) {
      const response = await fetch(`${httpUrl}/v1/queues/${group}`);
      expect(response.status).toBe(200);
      const described = (await response.json()) as {
        config: Record<string, unknown>;
        partitions: { start_offset: number; log_end_offset: number; acquired: number; available: number; dead: number }[];
      };
      expect(described.config.share_auto_offset_reset).toBe('earliest');
      expect(described.partitions).toHaveLength(partitions);
      for (const p of described.partitions) expect(p).toMatchObject({ start_offset: p.log_end_offset, acquired: 0, available: 0 });
      expect(described.partitions.reduce((sum, p) => sum + p.dead, 0)).toBe(rejected);
    }
  }, 180_000);

  it('holds back a record whose spool.deliver.at.ms is ahead, in the batch the client gets, until its time; the client skips it and acknowledges the rest', async () => {
    const id = randomUUID().slice(0, 8);
    const command = [
      ...javaProgram(build, 'spool.interop.ShareDelayInterop'),
      bootstrap,
      `share-delay-${id}`,
      `share-delay-group-${id}`,
      '3000',
    ];
    const { stdout } = await runToEnd(command, '', 'delayed share consumer');
    const line = stdout.split('\n').find((l) => l.startsWith('{"step":"delayed"'));
    expect(JSON.parse(line ?? '{}')).toEqual({
      step: 'delayed',
      result: {
        order: ['now-0', 'now-2', 'later-1'],
        deliveries: [1, 1, 1],
        laterAfterDue: true,
        othersBeforeDue: true,
        commitsTaken: true,
      },
    });
  }, 120_000);
});
