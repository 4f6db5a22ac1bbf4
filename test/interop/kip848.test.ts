/**
 * KIP-848 with a real client: kafka-clients 4.4 consumers with group.protocol=consumer (kip848/, built by
 * `mvn -f test/interop/kip848/pom.xml package`, part of setup.sh). Two share a topic's six partitions,
 * consume every record once and commit; a third joins and gets partitions while the first two keep some
 * (incremental: neither is asked to give up everything). Then the group as HTTP shows it: a Kafka group
 * with the committed offsets at the end of each partition, no lag. And a mixed group (MixedInterop): one
 * group.protocol=classic and one group.protocol=consumer consumer share a topic, as Kafka 4.x allows.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, inject, it } from 'vitest';
import { runToEnd } from './clients.js';
import { buildDir } from './support.js';

const build = join(buildDir, 'kip848');
const partitions = 6;
const records = 300;

interface Outcome {
  readonly records: number;
  readonly consumed: number;
  readonly duplicates: number;
  readonly before: Record<string, number[]>;
  readonly after: Record<string, number[]>;
  readonly revokedA: number[][];
  readonly revokedB: number[][];
  readonly committedAtEnd: boolean;
  readonly described: { readonly type?: string; readonly members?: number; readonly error?: string };
}

describe('interop > KIP-848 consumer groups with kafka-clients 4.x (group.protocol=consumer)', () => {
  const bootstrap = inject('interopBootstrap');
  const httpUrl = inject('interopHttp');

  beforeEach(() => {
    if (!existsSync(join(build, 'classpath.txt')))
      throw new Error(`the KIP-848 client program is not built (${build}); run test/interop/setup.sh`);
  });

  it('shares partitions, consumes each record once, commits, and hands partitions to a third member incrementally', async () => {
    const id = randomUUID().slice(0, 8);
    const topic = `kip848-${id}`;
    const group = `kip848-group-${id}`;
    const command = [
      'java',
      '-XX:TieredStopAtLevel=1',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-cp',
      `${join(build, 'classes')}:${readFileSync(join(build, 'classpath.txt'), 'utf8').trim()}`,
      'spool.interop.Kip848Interop',
      bootstrap,
      topic,
      group,
      String(partitions),
      String(records),
    ];
    const { stdout } = await runToEnd(command, '', 'kip848 consumers');
    const outcome = JSON.parse(stdout.trim().split('\n').pop()!) as Outcome;

    expect(outcome.consumed).toBe(outcome.records);
    expect(outcome.duplicates).toBe(0);
    expect(outcome.committedAtEnd).toBe(true);
    // Before: the two split all six; after: the third has some and the first two kept some each.
    const sizes = (byName: Record<string, number[]>) => Object.values(byName).map((ps) => ps.length);
    expect(sizes(outcome.before).reduce((a, b) => a + b)).toBe(partitions);
    expect(new Set(Object.values(outcome.after).flat()).size).toBe(partitions);
    expect(Math.min(...sizes(outcome.after))).toBeGreaterThan(0);
    for (const name of ['a', 'b']) {
      const kept = outcome.after[name]!.filter((p) => outcome.before[name]!.includes(p));
      expect(kept.length, `${name} kept some of its partitions`).toBeGreaterThan(0);
    }
    for (const revoked of [...outcome.revokedA, ...outcome.revokedB]) expect(revoked.length).toBeLessThan(partitions);
    expect(outcome.described).toMatchObject({ type: 'Consumer', members: 3 });

    if (httpUrl !== undefined) {
      const response = await fetch(`${httpUrl}/v1/groups/${group}`);
      expect(response.status).toBe(200);
      const described = (await response.json()) as {
        kind: string;
        partitions: { partition: number; committed_offset: number | null; high_watermark: number; lag: number | null }[];
      };
      expect(described.kind).toBe('kafka');
      expect(described.partitions).toHaveLength(partitions);
      for (const p of described.partitions) expect(p.lag).toBe(0);
    }
  }, 180_000);

  it('mixes a classic member (group.protocol=classic) and a consumer-protocol one in one group, as Kafka 4.x', async () => {
    const id = randomUUID().slice(0, 8);
    const topic = `mixed-${id}`;
    const group = `mixed-group-${id}`;
    const command = [
      'java',
      '-XX:TieredStopAtLevel=1',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-cp',
      `${join(build, 'classes')}:${readFileSync(join(build, 'classpath.txt'), 'utf8').trim()}`,
      'spool.interop.MixedInterop',
      bootstrap,
      topic,
      group,
      String(partitions),
      String(records),
    ];
    const { stdout } = await runToEnd(command, '', 'mixed-group consumers');
    const outcome = JSON.parse(stdout.trim().split('\n').pop()!) as {
      readonly records: number;
      readonly consumed: number;
      readonly duplicates: number;
      readonly shared: { readonly consumer: number[]; readonly classic: number[]; readonly overlap: number };
      readonly committedAtEnd: boolean;
      readonly described: { readonly type?: string; readonly upgraded?: Record<string, boolean | null>; readonly error?: string };
    };
    expect(outcome.consumed).toBe(outcome.records);
    expect(outcome.duplicates).toBe(0);
    expect(outcome.committedAtEnd).toBe(true);
    expect(outcome.shared.overlap).toBe(0);
    expect(outcome.shared.consumer.length + outcome.shared.classic.length).toBe(partitions);
    // ConsumerGroupDescribe's member type: 1 (upgraded) for the consumer-protocol member, 0 for the classic one.
    expect(outcome.described).toMatchObject({ type: 'Consumer', upgraded: { 'mixed-consumer': true, 'mixed-classic': false } });
  }, 180_000);
});
