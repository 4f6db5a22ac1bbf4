/**
 * UpdateFeatures and ApiVersions' features (lib/kafka/handlers/features.ts, lib/log/features.ts):
 * `kafka-features.sh` raises `spool.commit.version`, the gate of packed commits. A harness of its own:
 * raising the level makes its agent pack.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../lib/format/index.js';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import { ApiVersions } from '../../lib/kafka/protocol/messages/api-versions.js';
import { UpdateFeatures } from '../../lib/kafka/protocol/messages/update-features.js';
import { brokerKey, partitionKey } from '../../lib/keys.js';
import { commitVersionFeature } from '../../lib/log/index.js';
import type { WireClient } from './support/wire-client.js';
import { useWireHarness } from './support/wire-harness.js';

// A cluster started at level 0, as one written before this version is (a new one starts at 1).
const { stores, log, withClient, withKey } = await useWireHarness({ listener: { initialFeatures: { [commitVersionFeature]: 0 } } });

const apiVersions = (c: WireClient) => c.callGenerated(ApiVersions, 4, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
const update = (
  c: WireClient,
  version: number,
  level: number,
  options: { upgradeType?: number; validateOnly?: boolean; feature?: string } = {},
) =>
  c.callGenerated(UpdateFeatures, version, {
    featureUpdates: [
      {
        feature: options.feature ?? commitVersionFeature,
        maxVersionLevel: level,
        upgradeType: options.upgradeType ?? 1,
        allowDowngrade: false,
      },
    ],
    validateOnly: options.validateOnly ?? false,
  });

describe('kafka > UpdateFeatures', () => {
  it('raises spool.commit.version as kafka-features.sh upgrade does, refusing bad updates and any downgrade; ApiVersions shows it; the agent then packs', async () => {
    const before = await withClient(apiVersions);
    expect(before.supportedFeatures).toEqual([
      { name: 'transaction.version', minVersion: 0, maxVersion: 2 },
      { name: commitVersionFeature, minVersion: 0, maxVersion: 1 },
    ]);
    expect(before.finalizedFeatures).toEqual([{ name: 'transaction.version', minVersionLevel: 2, maxVersionLevel: 2 }]);
    expect(before.finalizedFeaturesEpoch).toBe(1);

    await withClient(async (c) => {
      // Refused, changing nothing: a level not supported, a feature unknown, an unknown upgrade type, a downgrade up, nothing asked.
      const tooHigh = await update(c, 1, 2);
      expect(tooHigh).toMatchObject({
        errorCode: KafkaErrors.INVALID_UPDATE_VERSION,
        results: [{ errorCode: KafkaErrors.INVALID_UPDATE_VERSION }],
      });
      expect(tooHigh.errorMessage).toContain('expected 0 to 1');
      expect((await update(c, 1, 1, { feature: 'metadata.version' })).errorCode).toBe(KafkaErrors.INVALID_UPDATE_VERSION);
      expect((await update(c, 1, 1, { upgradeType: 9 })).errorCode).toBe(KafkaErrors.INVALID_UPDATE_VERSION);
      // A "downgrade" to a level above the finalized one (kafka-features.sh downgrade --feature spool.commit.version=1 at 0).
      for (const upgradeType of [2, 3]) expect((await update(c, 1, 1, { upgradeType })).errorCode).toBe(KafkaErrors.INVALID_UPDATE_VERSION);
      expect((await c.callGenerated(UpdateFeatures, 1, { featureUpdates: [], validateOnly: false })).errorCode).toBe(
        KafkaErrors.INVALID_REQUEST,
      );
      // A live agent of a version before features: refused, naming it.
      await stores.metadata.write({
        kind: 'put',
        key: brokerKey(99),
        attrs: { host: 'old', port: 1, owner: 'old-agent', expiresMs: Date.now() + 60_000 },
      });
      const old = await update(c, 2, 1);
      expect(old).toMatchObject({ errorCode: KafkaErrors.INVALID_UPDATE_VERSION, results: [] }); // v2: the top-level error only
      expect(old.errorMessage).toContain('node 99');
      await stores.metadata.write({ kind: 'delete', key: brokerKey(99) });
      // --dry-run: validated, not done.
      expect(await update(c, 1, 1, { validateOnly: true })).toMatchObject({
        errorCode: KafkaErrors.NONE,
        results: [{ feature: commitVersionFeature, errorCode: 0 }],
      });
      expect((await apiVersions(c)).finalizedFeaturesEpoch).toBe(1);
      // Without the cluster's ALTER (an admin key): refused.
      await withKey('writer', [{ topics: '*', actions: ['read', 'write'] }], async (unprivileged) => {
        expect((await update(unprivileged, 1, 1)).errorCode).toBe(KafkaErrors.CLUSTER_AUTHORIZATION_FAILED);
      });

      const raised = await update(c, 0, 1);
      expect(raised).toEqual({
        throttleTimeMs: 0,
        errorCode: KafkaErrors.NONE,
        errorMessage: null,
        results: [{ feature: commitVersionFeature, errorCode: 0, errorMessage: null }],
      });
      const after = await apiVersions(c);
      expect(after.finalizedFeatures).toEqual([
        { name: 'transaction.version', minVersionLevel: 2, maxVersionLevel: 2 },
        { name: commitVersionFeature, minVersionLevel: 1, maxVersionLevel: 1 },
      ]);
      expect(after.finalizedFeaturesEpoch).toBe(2);
      // Levels only rise: a safe or unsafe downgrade (kafka-features.sh downgrade, disable) is refused.
      for (const upgradeType of [2, 3]) expect((await update(c, 1, 0, { upgradeType })).errorCode).toBe(KafkaErrors.INVALID_UPDATE_VERSION);
      expect((await apiVersions(c)).finalizedFeaturesEpoch).toBe(2);
    });

    // The agent's next take packs (its leases ride on its registration: it serves Kafka).
    const topic = `features-${randomUUID().slice(0, 8)}`;
    const { id } = await log.createTopic(topic, 1);
    await (await log.appendBatches(topic, 0, encodeRecordBatch([{ key: null, value: Buffer.from('v') }]), { asLeader: true })).done;
    expect((await stores.metadata.get(partitionKey(id, 0)))?.attrs.packedBy).toBe(log.internals.packing?.writerId);
  });
});
