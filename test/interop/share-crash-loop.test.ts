/**
 * The SIGKILL crash loop (test/reliability/crash-loop.ts) with Kafka share consumers among the share
 * group's members: two KafkaShareConsumers of kafka-clients 4.4 (kip848/ShareCrashMember, built by
 * setup.sh), each in a JVM of its own, read the loop's topic in the share group its two HTTP
 * receivers read, acknowledging explicitly (accept, release, reject; now and then only after the
 * lock ended) across every restart of the agent, and one of them is killed with SIGKILL every
 * fourth round, another taking its place (a consumer crash: its share session ends with its
 * connection). The loop's checker holds their deliveries and acknowledgement callbacks to the same
 * promises as the HTTP receivers' (checker.ts, checkShareGroup): no record accepted twice or handed
 * out again once settled, each delivery the log's record with a delivery count of its own, every
 * record settled at the end. Here rather than in the unit suite's crash loop because it needs the
 * Java build; it starts and kills agents of its own, whatever the interop target.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCrashLoop } from '../reliability/crash-loop.js';
import { javaProgram } from './clients.js';
import { buildDir } from './support.js';

const build = join(buildDir, 'kip848');
const rounds = 10;

describe('interop > share groups with kafka-clients 4.4 through the SIGKILL crash loop', () => {
  it(`settles each record once with KafkaShareConsumers and HTTP receivers in one share group across ${rounds} SIGKILLs of the agent`, {
    timeout: 180_000,
  }, async () => {
    if (!existsSync(join(build, 'classpath.txt')))
      throw new Error(`the share consumer program is not built (${build}); run test/interop/setup.sh`);
    const report = await runCrashLoop({
      rounds,
      seed: 20261122,
      kafkaShareMember: ({ bootstrap, topic, group, member, seed, lockMs }) => [
        ...javaProgram(build, 'spool.interop.ShareCrashMember'),
        bootstrap,
        topic,
        group,
        member,
        String(seed),
        String(lockMs),
      ],
    });
    console.info(`interop: share crash loop: ${JSON.stringify({ ...report.shareGroup, durationMs: report.durationMs })}`);
    expect(report.violations).toEqual([]);
    expect(report.crashes).toBe(rounds);
    // Both Kafka members (every incarnation of each) were handed records between kills and were answered ok, as the HTTP receivers were.
    for (const member of ['kafka-share-0', 'kafka-share-1', 'http-receiver-0', 'http-receiver-1']) {
      expect(report.shareGroup.members[member]?.beforeDrain, member).toBeGreaterThan(0);
      expect(report.shareGroup.members[member]?.ok, member).toBeGreaterThan(0);
    }
    // A member was killed in rounds 4 and 8, and replaced.
    expect(report.shareGroup.kafkaMembers.killed).toBe(Math.floor(rounds / 4));
    expect(report.shareGroup.kafkaMembers.started).toBe(2 + Math.floor(rounds / 4));
    expect(report.shareGroup.figures.redeliveries).toBeGreaterThan(0);
  });
});
