/**
 * The invariants of lib/log/features.ts (cluster feature levels, the gate of packed commits), each
 * proved by a test that fails if it breaks. Written once, run on the embedded store, the memory store
 * and the AWS adapters.
 */
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../lib/errors.js';
import { encodeRecordBatch } from '../../lib/format/index.js';
import { brokerKey, partitionKey } from '../../lib/keys.js';
import {
  commitVersionFeature,
  oldAgentGraceMs,
  readFeatures,
  registrationFeatures,
  updateFeatures,
  type FeatureUpdate,
} from '../../lib/log/features.js';
import type { MetadataStore } from '../../lib/storage/ports.js';
import { perTestLogs } from '../support/logs.js';
import { perTestMetadata, type StoreKind } from '../support/stores.js';

const packed: FeatureUpdate = { feature: commitVersionFeature, level: 1, kind: 'upgrade' };

/** A registration as an agent writes it: this version's (with `features`), or one of a version before features. */
function register(metadata: MetadataStore, nodeId: number, { expiresMs = Date.now() + 60_000, before = false } = {}) {
  const attrs = { host: '127.0.0.1', port: 9000 + nodeId, rack: null, owner: `agent-${nodeId}`, expiresMs };
  return metadata.write({ kind: 'put', key: brokerKey(nodeId), attrs: before ? attrs : { ...attrs, features: registrationFeatures() } });
}

/** `metadata`, with `act` run just before its first transaction (between a raise's reads and its write); counts its transactions. */
function meanwhile(metadata: MetadataStore, act: () => Promise<unknown>) {
  let transactions = 0;
  const store = Object.assign(Object.create(metadata) as MetadataStore, {
    transact: async (ops: Parameters<MetadataStore['transact']>[0]) => {
      if (transactions++ === 0) await act();
      return metadata.transact(ops);
    },
  });
  return { store, transactions: () => transactions };
}

async function refusal(promise: Promise<unknown>): Promise<{ code: string; reason: unknown; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SpoolError)) throw new Error(`expected a SpoolError, got ${String(error)}`);
  return { code: error.code, reason: error.details.reason, message: error.message };
}

export function featuresSuite(kind: () => StoreKind): void {
  const open = perTestMetadata(kind);
  const setup = perTestLogs(kind);

  describe('log > cluster features', () => {
    it('finalizes a level every live agent supports, moving the epoch once; the same level again writes nothing', async () => {
      const metadata = await open();
      expect(await readFeatures(metadata)).toEqual({ epoch: 1, levels: {} });
      await register(metadata, 1);
      await register(metadata, 2);
      await register(metadata, 3, { expiresMs: Date.now() - 1 }); // expired: not asked
      await register(metadata, 4, { expiresMs: Date.now() - oldAgentGraceMs - 1, before: true }); // of a version before, expired long ago
      expect(await updateFeatures(metadata, [packed], { validateOnly: true })).toEqual({ epoch: 1, levels: {} });
      expect(await readFeatures(metadata)).toEqual({ epoch: 1, levels: {} });
      expect(await updateFeatures(metadata, [packed])).toEqual({ epoch: 2, levels: { [commitVersionFeature]: 1 } });
      expect(await updateFeatures(metadata, [packed])).toEqual({ epoch: 2, levels: { [commitVersionFeature]: 1 } });
      expect(await readFeatures(metadata)).toEqual({ epoch: 2, levels: { [commitVersionFeature]: 1 } });
    });

    it('refuses a level a live agent of a version before features does not support, or one whose registration expired lately, changing nothing', async () => {
      const metadata = await open();
      await register(metadata, 1);
      await register(metadata, 2, { before: true });
      const refused = await refusal(updateFeatures(metadata, [packed]));
      expect(refused).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'unsupported' });
      expect(refused.message).toContain('node 2');
      // Expired, but lately: its agent may only be cut off from the store, and its renewal would land.
      await register(metadata, 2, { before: true, expiresMs: Date.now() - oldAgentGraceMs / 2 });
      expect(await refusal(updateFeatures(metadata, [packed]))).toMatchObject({ reason: 'unsupported' });
      expect(await readFeatures(metadata)).toEqual({ epoch: 1, levels: {} });
    });

    it('refuses downgrades, features this version does not know, levels out of range and a feature named twice, changing nothing', async () => {
      const metadata = await open();
      for (const updates of [
        [{ feature: 'spool.no.such.version', level: 1, kind: 'upgrade' }],
        [{ ...packed, level: 2 }],
        [{ ...packed, level: -1 }],
        [packed, packed],
        [{ ...packed, kind: 'safe-downgrade' }], // a "downgrade" above the finalized level
      ] as FeatureUpdate[][])
        expect(await refusal(updateFeatures(metadata, updates))).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'invalid-update' });
      expect(await readFeatures(metadata)).toEqual({ epoch: 1, levels: {} });
      await updateFeatures(metadata, [packed]);
      for (const kind of ['upgrade', 'safe-downgrade', 'unsafe-downgrade'] as const)
        expect(await refusal(updateFeatures(metadata, [{ ...packed, level: 0, kind }]))).toMatchObject({ reason: 'invalid-update' });
      // A downgrade to the finalized level itself changes nothing, and is no error.
      expect(await updateFeatures(metadata, [{ ...packed, kind: 'safe-downgrade' }])).toEqual({
        epoch: 2,
        levels: { [commitVersionFeature]: 1 },
      });
      expect(await readFeatures(metadata)).toEqual({ epoch: 2, levels: { [commitVersionFeature]: 1 } });
    });

    it('sees an agent that registers while a level rises: the raise is tried again, and refused for an agent before features', async () => {
      const metadata = await open();
      await register(metadata, 1);
      await register(metadata, 3);
      // Between the raise's read and its write an agent of a version before features registers at a
      // free node id (2, the lowest; or 4, one past the highest, as one that read before 2 was freed).
      for (const nodeId of [2, 4]) {
        const racing = meanwhile(metadata, () => register(metadata, nodeId, { before: true }));
        expect(await refusal(updateFeatures(racing.store, [packed]))).toMatchObject({ reason: 'unsupported' });
        expect(racing.transactions()).toBeGreaterThan(0);
        expect(await readFeatures(metadata)).toEqual({ epoch: 1, levels: {} });
        await metadata.write({ kind: 'delete', key: brokerKey(nodeId) });
      }
      // An agent of a version before features takes over an expired registration meanwhile: the raise
      // sees the registration is not as read, tries again, and is refused for it.
      await register(metadata, 2, { expiresMs: Date.now() - 1 });
      const takingOver = meanwhile(metadata, () => register(metadata, 2, { before: true }));
      expect(await refusal(updateFeatures(takingOver.store, [packed]))).toMatchObject({ reason: 'unsupported' });
      expect(await readFeatures(metadata)).toEqual({ epoch: 1, levels: {} });
      await register(metadata, 2);
      // A renewal meanwhile (a registration not as read) makes it try again too; then it lands.
      const renewing = meanwhile(metadata, () => register(metadata, 1, { expiresMs: Date.now() + 120_000 }));
      expect(await updateFeatures(renewing.store, [packed])).toEqual({ epoch: 2, levels: { [commitVersionFeature]: 1 } });
      expect(renewing.transactions()).toBe(2);
    });

    it("packs with packedCommits 'auto' (the default) only once spool.commit.version is 1: a take before it does not pack", async () => {
      const { stores, make } = await setup();
      const log = make({ packedCommits: 'auto', leaseRenewIntervalMs: 0, packedMaterializeMs: 0 });
      const nodeId = 7;
      await stores.metadata.write({
        kind: 'put',
        key: brokerKey(nodeId),
        attrs: { owner: log.writerId, expiresMs: Date.now() + 60_000, features: registrationFeatures() },
      });
      log.leaseOnRegistration(() => ({ nodeId, owner: log.writerId, expiresMs: Date.now() + 60_000 }));
      const topic = `features-${Date.now()}`;
      await log.createTopic(topic, 2);
      const topicId = (await log.requireTopic(topic)).id;
      const packedBy = async (partition: number) => (await stores.metadata.get(partitionKey(topicId, partition)))?.attrs.packedBy ?? null;
      // As the Kafka Produce path appends: as leader.
      const produce = async (partition: number) =>
        (await log.appendBatches(topic, partition, encodeRecordBatch([{ key: null, value: Buffer.from('v') }]), { asLeader: true })).done;

      await produce(0);
      expect(await packedBy(0)).toBeNull();
      expect(log.internals.packing?.packedCount).toBe(0);
      await log.features.update([packed]); // as UpdateFeatures on this agent does
      await produce(1);
      expect(await packedBy(1)).toBe(log.internals.packing?.writerId);
      expect(log.internals.packing?.packedCount).toBe(1);
      // Off, a Log never packs, whatever the level.
      const off = make({ packedCommits: false });
      expect(off.internals.packing).toBeUndefined();
    });
  });
}
