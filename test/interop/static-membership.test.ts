/**
 * Static membership (KIP-345) with the Java client's classic group protocol, kafka-clients 3.9 and
 * 4.4 (java/ StaticMembershipInterop, built by setup.sh with the rest of java/): two consumers with
 * group.instance.id split a topic; one closes (no LeaveGroup: it is static) and a new consumer with its
 * instance id starts within the session timeout. The group does not rebalance: the other keeps its
 * partitions and generation, and the new one takes the old one's partitions under a new member id.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { javaProgram, runToEnd } from './clients.js';
import { buildDir } from './support.js';

interface Outcome {
  readonly generationBefore: number;
  readonly generationAfterA: number;
  readonly generationAfterB: number;
  readonly aBefore: number[];
  readonly aAfter: number[];
  readonly bBefore: number[];
  readonly bAfter: number[];
  readonly memberBefore: string;
  readonly memberAfter: string;
  readonly assignedToAAfterSplit: number;
  readonly state: string;
  readonly instances: string[];
}

for (const [client, build] of [
  ['kafka-clients 3.9', 'java'],
  ['kafka-clients 4.4', 'java4'],
] as const) {
  describe(`interop > static membership with ${client} (group.instance.id)`, () => {
    const bootstrap = inject('interopBootstrap');

    it('takes a restarted static consumer back without a rebalance: the other keeps its partitions and the generation', async () => {
      const dir = join(buildDir, build);
      if (!existsSync(join(dir, 'classes', 'spool', 'interop', 'StaticMembershipInterop.class')))
        throw new Error(`the Java client program is not built (${dir}); run test/interop/setup.sh`);
      const id = randomUUID().slice(0, 8);
      const command = [...javaProgram(dir, 'spool.interop.StaticMembershipInterop'), bootstrap, `static-${id}`, `static-group-${id}`];
      const { stdout } = await runToEnd(command, '', `static membership (${client})`);
      const outcome = JSON.parse(stdout.trim().split('\n').pop()!) as Outcome;

      expect(outcome.generationAfterA).toBe(outcome.generationBefore);
      expect(outcome.generationAfterB).toBe(outcome.generationBefore);
      expect(outcome.aAfter).toEqual(outcome.aBefore);
      expect(outcome.bAfter).toEqual(outcome.bBefore);
      expect(outcome.assignedToAAfterSplit).toBe(0);
      expect(outcome.memberAfter).not.toBe(outcome.memberBefore);
      expect(outcome.memberAfter.startsWith('static-b-')).toBe(true);
      expect(outcome).toMatchObject({ state: 'Stable', instances: ['static-a', 'static-b'] });
    });
  });
}
