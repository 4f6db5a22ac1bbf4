/**
 * Where everything lives in the MetadataStore: every item kind, its key, the module that owns it and
 * what it holds, in one table (`itemKinds`), and the one function that builds each key. No module
 * builds a key of its own; a test runs a full scenario (HTTP, Kafka, groups, maintenance, keys) and
 * fails on any item written that this table does not name (test/keys.test.ts). Pure.
 *
 * Keys carry a topic's *id* (a UUID minted at its creation), not its name, where the item belongs to
 * one incarnation of the topic: a topic deleted and created again never sees the old one's state.
 * Each partition has its own partition keys, so DynamoDB's per-key throughput limit applies per
 * partition. Base offsets are padded to 16 decimal digits (enough for 2^53), so sort-key order is
 * offset order; node ids to 10.
 */
import type { ItemKey } from './storage/ports.js';

export interface ItemKind {
  readonly kind: string;
  readonly pk: string;
  readonly sk: string;
  /** The module that writes it. */
  readonly owner: string;
  readonly holds: string;
  /** Matches the key of an item of this kind. */
  readonly matches: (key: ItemKey) => boolean;
}

const offsetDigits = 16;
const nodeIdDigits = 10;

// ---- the log (lib/log) ----------------------------------------------------------------------------

export const topicsPk = 'topics';
export const topicKey = (name: string): ItemKey => ({ pk: topicsPk, sk: name });

const partitionPkPrefix = 'part#';
export const partitionSk = 'state';
export const partitionPk = (topicId: string, partition: number): string => `${partitionPkPrefix}${topicId}#${partition}`;
export const partitionKey = (topicId: string, partition: number): ItemKey => ({ pk: partitionPk(topicId, partition), sk: partitionSk });

const producerSkPrefix = 'producer#';
export const producerStateKey = (topicId: string, partition: number, producerId: number): ItemKey => ({
  pk: partitionPk(topicId, partition),
  sk: `${producerSkPrefix}${producerId}`,
});
/** The sk range holding a partition's producer states (a query of its partitionPk), and a state's producer id. */
export const producerStateSks = { from: producerSkPrefix, to: `${producerSkPrefix}\uffff` } as const;
export const producerIdOfSk = (sk: string): number => Number(sk.slice(producerSkPrefix.length));

/**
 * A partition's aborted transactions (Kafka's .txnindex): one item per abort marker, by the marker's
 * offset, so a fetch finds those that end at or after its offset with one range query.
 */
const abortedSkPrefix = 'aborted#';
export const abortedTxnKey = (topicId: string, partition: number, markerOffset: number): ItemKey => ({
  pk: partitionPk(topicId, partition),
  sk: `${abortedSkPrefix}${offsetSk(markerOffset)}`,
});
/** The sk range of a partition's aborted transactions whose markers are below `offset`. */
export const abortedTxnSksBelow = (offset: number) => ({ from: abortedSkPrefix, to: `${abortedSkPrefix}${offsetSk(offset - 1)}` });
/** The sk range of a partition's aborted transactions whose markers are at or after `fromOffset`. */
export const abortedTxnSks = (fromOffset: number) => ({
  from: `${abortedSkPrefix}${offsetSk(fromOffset)}`,
  to: `${abortedSkPrefix}\uffff`,
});

const cleanerSk = 'cleaner';
export const cleanerKey = (topicId: string, partition: number): ItemKey => ({ pk: partitionPk(topicId, partition), sk: cleanerSk });

const rowsPkPrefix = 'rows#';
export const rowsPk = (topicId: string, partition: number): string => `${rowsPkPrefix}${topicId}#${partition}`;
export const offsetSk = (offset: number): string => String(offset).padStart(offsetDigits, '0');
export const rowKey = (topicId: string, partition: number, baseOffset: number): ItemKey => ({
  pk: rowsPk(topicId, partition),
  sk: offsetSk(baseOffset),
});

export const producerIdsKey: ItemKey = { pk: 'producer-ids', sk: 'next' };

/**
 * A packing writer's items (lib/log/writer-log.ts, docs/packed-commits.md): its fence under its writer
 * id, and its packed commits by sequence number (12 digits, so sk order is commit order) spread over
 * `packedCommitShards` partition keys by sequence number, so a writer committing 256 flushes a
 * second of 5 KB items stays under DynamoDB's 1,000 write units a second per partition key.
 */
const writerPkPrefix = 'writer#';
const writerFenceSk = 'fence';
const packedCommitSkPrefix = 'c#';
const seqDigits = 12;
export const packedCommitShards = 8;
export const writerPk = (writerId: string): string => `${writerPkPrefix}${writerId}`;
export const writerFenceKey = (writerId: string): ItemKey => ({ pk: writerPk(writerId), sk: writerFenceSk });
export const packedCommitPk = (writerId: string, shard: number): string => `${writerPk(writerId)}#${shard}`;
export const packedCommitKey = (writerId: string, seq: number): ItemKey => ({
  pk: packedCommitPk(writerId, seq % packedCommitShards),
  sk: `${packedCommitSkPrefix}${String(seq).padStart(seqDigits, '0')}`,
});
/** The sk range of a writer's packed commits after `afterSeq` (in each shard); and a commit's sequence number from its sk. */
export const packedCommitSksAfter = (afterSeq: number) => ({
  from: `${packedCommitSkPrefix}${String(afterSeq + 1).padStart(seqDigits, '0')}`,
  to: `${packedCommitSkPrefix}\uffff`,
});
export const seqOfPackedCommitSk = (sk: string): number => Number(sk.slice(packedCommitSkPrefix.length));

export const ledgerPk = 'unreferenced';
export const ledgerKey = (objectKey: string): ItemKey => ({ pk: ledgerPk, sk: objectKey });

// ---- consumer groups (lib/groups, lib/kafka) ------------------------------------------------------

const groupPkPrefix = 'group#';
export const groupPk = (group: string): string => `${groupPkPrefix}${group}`;
export const groupStateSk = 'state';
export const memberSkPrefix = 'member#';
export const offsetSkPrefix = 'offset#';
export const vouchSk = 'kafka-vouch';
export const coordinatorSk = 'coordinator';
export const groupStateKey = (group: string): ItemKey => ({ pk: groupPk(group), sk: groupStateSk });
export const memberKey = (group: string, memberId: string): ItemKey => ({ pk: groupPk(group), sk: `${memberSkPrefix}${memberId}` });
/** `tp` is `<topic>/<partition>` (groups/assignors.ts, tpKey). */
export const groupOffsetKey = (group: string, tp: string): ItemKey => ({ pk: groupPk(group), sk: `${offsetSkPrefix}${tp}` });
export const vouchKey = (group: string): ItemKey => ({ pk: groupPk(group), sk: vouchSk });
export const coordinatorKey = (group: string): ItemKey => ({ pk: groupPk(group), sk: coordinatorSk });

export const groupsPk = 'groups';
export const groupIndexKey = (group: string): ItemKey => ({ pk: groupsPk, sk: group });

// ---- the Kafka cluster (lib/kafka/cluster.ts) -----------------------------------------------------

export const brokersPk = 'brokers';
export const brokerKey = (nodeId: number): ItemKey => ({ pk: brokersPk, sk: String(nodeId).padStart(nodeIdDigits, '0') });
export const clusterIdKey: ItemKey = { pk: 'cluster', sk: 'id' };
/** The cluster's finalized feature levels (lib/log/features.ts). */
export const featuresKey: ItemKey = { pk: 'cluster', sk: 'features' };
/** The last maintenance pass's report, whoever ran it (lib/log/maintenance). */
export const maintenanceReportKey: ItemKey = { pk: 'cluster', sk: 'maintenance' };

// ---- API keys (lib/auth.ts) -----------------------------------------------------------------------

export const authPk = 'auth';
const apiKeySkPrefix = 'key#';
export const apiKeyKey = (id: string): ItemKey => ({ pk: authPk, sk: `${apiKeySkPrefix}${id}` });
export const apiKeyIdOf = (sk: string): string => sk.slice(apiKeySkPrefix.length);

// ---- share groups (lib/queues) ---------------------------------------------------------------------

/** A share group's items: its settings, and one per share partition (topic incarnation and partition) it has read. */
const sharePkPrefix = 'share#';
export const sharePk = (group: string): string => `${sharePkPrefix}${group}`;
export const groupOfSharePk = (pk: string): string => pk.slice(sharePkPrefix.length);
const sharePartitionSkPrefix = 'partition#';
export const sharePartitionKey = (group: string, topicId: string, partition: number): ItemKey => ({
  pk: sharePk(group),
  sk: `${sharePartitionSkPrefix}${topicId}#${partition}`,
});
export const sharePartitionSks = { from: sharePartitionSkPrefix, to: `${sharePartitionSkPrefix}\uffff` } as const;
export const sharePartitionOf = (sk: string): { topicId: string; partition: number } => {
  const [topicId, partition] = sk.slice(sharePartitionSkPrefix.length).split('#');
  return { topicId: topicId!, partition: Number(partition) };
};
/** The group's settings (lib/queues/config.ts). */
const shareConfigSk = 'config';
export const shareConfigKey = (group: string): ItemKey => ({ pk: sharePk(group), sk: shareConfigSk });
/** The group's Kafka members (lib/queues/members.ts). */
const shareMembersSk = 'members';
/** One item per share group, for listing (written with the group's first item). */
export const sharesPk = 'shares';
export const shareIndexKey = (group: string): ItemKey => ({ pk: sharesPk, sk: group });
export const shareMembersKey = (group: string): ItemKey => ({ pk: sharePk(group), sk: shareMembersSk });
/**
 * A share partition's delay index (lib/queues/share-partition.ts): one item per range of records
 * deferred together, under a partition key of its own (its writes and reads do not touch the
 * group's), sorted by due time (ms, 15 digits) then first offset, so the records due by now are one
 * range read.
 */
const shareDelayPkPrefix = 'sharedelay#';
const dueDigits = 15;
export const shareDelayPk = (group: string, topicId: string, partition: number): string =>
  `${shareDelayPkPrefix}${topicId}#${partition}#${group}`;
export const shareDelayKey = (group: string, topicId: string, partition: number, dueMs: number, first: number): ItemKey => ({
  pk: shareDelayPk(group, topicId, partition),
  sk: `${String(dueMs).padStart(dueDigits, '0')}#${offsetSk(first)}`,
});
/** The sk range of delay index entries due by `nowMs`. */
export const shareDelaySksDue = (nowMs: number) => ({ from: '0', to: `${String(nowMs).padStart(dueDigits, '0')}#\uffff` });

// ---- transactions (lib/transactions) ---------------------------------------------------------------

/**
 * Transactional ids' states are spread over this many partition keys by a hash of the id, as Kafka
 * spreads them over __transaction_state's partitions: each key has DynamoDB's own write limit, and
 * listing every id (ListTransactions, the timeout sweep) is one query per shard. Fixed: changing it
 * moves every id.
 */
export const transactionShards = 32;
const transactionPkPrefix = 'txns#';
export const transactionPk = (shard: number): string => `${transactionPkPrefix}${String(shard).padStart(2, '0')}`;
/** FNV-1a over the id's UTF-8 bytes, modulo transactionShards. */
export function transactionShardOf(transactionalId: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(transactionalId, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash % transactionShards;
}
export const transactionKey = (transactionalId: string): ItemKey => ({
  pk: transactionPk(transactionShardOf(transactionalId)),
  sk: transactionalId,
});

// ---- the table --------------------------------------------------------------------------------------

const startsWith = (prefix: string) => (text: string) => text.startsWith(prefix);
const exactly = (value: string) => (text: string) => text === value;
const digits = (count: number) => (text: string) => new RegExp(`^\\d{${count}}$`).test(text);
const any = () => true;

/** Every item kind, by key; a key matches at most one kind. */
export const itemKinds: readonly ItemKind[] = (
  [
    [
      'topic',
      topicsPk,
      '<topic name>',
      'lib/log/topics.ts, leadership.ts',
      'TopicItem: id, partitions, config, createdMs, deleting?, leadership? (moves when a lease changes hands)',
      exactly(topicsPk),
      any,
    ],
    [
      'partition',
      'part#<topic id>#<partition>',
      partitionSk,
      'lib/log/commit.ts, leases.ts, topics.ts, retention.ts',
      'nextOffset (high watermark), logStartOffset, lease: owner, epoch, ownerNode (its registration) or leaseExpiresMs',
      startsWith(partitionPkPrefix),
      exactly(partitionSk),
    ],
    [
      'producer state',
      'part#<topic id>#<partition>',
      'producer#<producer id>',
      'lib/log/idempotence.ts',
      "an idempotent producer's epoch, next sequence and last batches with their offsets; a transactional one's open transaction's first offset and last marker",
      startsWith(partitionPkPrefix),
      startsWith(producerSkPrefix),
    ],
    [
      'aborted transaction',
      'part#<topic id>#<partition>',
      'aborted#<marker offset, 16 digits>',
      'lib/log/commit.ts, maintenance/retention.ts',
      "an aborted transaction's producer id and first offset on the partition, and the last stable offset after its marker",
      startsWith(partitionPkPrefix),
      startsWith(abortedSkPrefix),
    ],
    [
      'cleaner checkpoint',
      'part#<topic id>#<partition>',
      cleanerSk,
      'lib/log/maintenance/cleaner.ts',
      "a compacted partition's first dirty offset and when the cleaner reached each offset (for delete.retention.ms)",
      startsWith(partitionPkPrefix),
      exactly(cleanerSk),
    ],
    [
      'writer fence',
      'writer#<writer id>',
      writerFenceSk,
      'lib/log/writer-log.ts',
      "a packing writer's fence: its node, fencedMs once another writer took over from it (its packed commits check it), horizonSeq",
      startsWith(writerPkPrefix),
      exactly(writerFenceSk),
    ],
    [
      'packed commit',
      'writer#<writer id>#<sequence number mod 8>',
      'c#<sequence number, 12 digits>',
      'lib/log/writer-log.ts',
      'one flush of a packing writer: its chunks (partition, base, count, object, position, size, max timestamp, producer sequences), binary',
      startsWith(writerPkPrefix),
      startsWith(packedCommitSkPrefix),
    ],
    [
      'batch row',
      'rows#<topic id>#<partition>',
      '<base offset, 16 digits>',
      'lib/log/commit.ts, maintenance/',
      'BatchRow: where records [base, base + count) live',
      startsWith(rowsPkPrefix),
      digits(offsetDigits),
    ],
    [
      'producer id counter',
      producerIdsKey.pk,
      producerIdsKey.sk,
      'lib/log/idempotence.ts',
      'the next unreserved producer id',
      exactly(producerIdsKey.pk),
      exactly(producerIdsKey.sk),
    ],
    [
      'unreferenced object',
      ledgerPk,
      '<object key>',
      'lib/log/maintenance/ledger.ts',
      'sinceMs: when the object stopped being referenced',
      exactly(ledgerPk),
      any,
    ],
    [
      'group state',
      'group#<group>',
      groupStateSk,
      'lib/groups/coordinator.ts, classic.ts, lib/kafka/consumer-groups.ts',
      'GroupState: incarnation, generation, members, assignments (classic: the Kafka members; consumer: a KIP-848 group)',
      startsWith(groupPkPrefix),
      exactly(groupStateSk),
    ],
    [
      'group member lease',
      'group#<group>',
      'member#<member id>',
      'lib/groups/coordinator.ts',
      "an HTTP member's lastHeartbeatMs and sessionTimeoutMs",
      startsWith(groupPkPrefix),
      startsWith(memberSkPrefix),
    ],
    [
      'group offset',
      'group#<group>',
      'offset#<topic>/<partition>',
      'lib/groups/items.ts',
      'committed, metadata, topicId; an HTTP member position, its run, generation and topicId',
      startsWith(groupPkPrefix),
      startsWith(offsetSkPrefix),
    ],
    [
      'group vouch',
      'group#<group>',
      vouchSk,
      'lib/groups/classic.ts',
      "aliveUntilMs: until when a Kafka group's coordinator vouches for its members",
      startsWith(groupPkPrefix),
      exactly(vouchSk),
    ],
    [
      'group coordinator',
      'group#<group>',
      coordinatorSk,
      'lib/kafka/cluster.ts',
      "owner, nodeId, epoch of the agent coordinating the group's Kafka members, held while its registration lives (expiresMs: for agents before that); outlives a group deleted over HTTP",
      startsWith(groupPkPrefix),
      exactly(coordinatorSk),
    ],
    ['group index', groupsPk, '<group>', 'lib/groups/coordinator.ts', 'createdMs: one item per group, for listing', exactly(groupsPk), any],
    [
      'broker registration',
      brokersPk,
      '<node id, 10 digits>',
      'lib/kafka/cluster.ts',
      "an agent's host, port, rack, writer id, registration lease and the feature levels it supports (features, JSON)",
      exactly(brokersPk),
      digits(nodeIdDigits),
    ],
    [
      'cluster id',
      clusterIdKey.pk,
      clusterIdKey.sk,
      'lib/kafka/cluster.ts',
      'the Kafka cluster id, minted once',
      exactly(clusterIdKey.pk),
      exactly(clusterIdKey.sk),
    ],
    [
      'finalized features',
      featuresKey.pk,
      featuresKey.sk,
      'lib/log/features.ts',
      'epoch and levels (JSON): the feature levels raised through UpdateFeatures; absent, none',
      exactly(featuresKey.pk),
      exactly(featuresKey.sk),
    ],
    [
      'maintenance report',
      maintenanceReportKey.pk,
      maintenanceReportKey.sk,
      'lib/log/maintenance/index.ts',
      "the last pass: endedMs, its result and the bytes each topic's rows point at (JSON)",
      exactly(maintenanceReportKey.pk),
      exactly(maintenanceReportKey.sk),
    ],
    [
      'transaction',
      'txns#<shard 00-31>',
      '<transactional id>',
      'lib/transactions/store.ts',
      "a transactional id's producer id and epoch, the previous ones (for retries), phase, timeout, partitions and groups of the open transaction, version (the compare-and-set field)",
      startsWith(transactionPkPrefix),
      any,
    ],
    [
      'share partition',
      'share#<group>',
      'partition#<topic id>#<partition>',
      'lib/queues/store.ts',
      "a share group's records in flight in one partition (KIP-932): start and end offsets, ranges with state, holder, lock and delivery count, dead records, version",
      startsWith(sharePkPrefix),
      startsWith(sharePartitionSkPrefix),
    ],
    [
      'share group settings',
      'share#<group>',
      shareConfigSk,
      'lib/queues/store.ts',
      "a share group's share.* configs that are set, version",
      startsWith(sharePkPrefix),
      exactly(shareConfigSk),
    ],
    [
      'share group members',
      'share#<group>',
      shareMembersSk,
      'lib/queues/store.ts',
      "a share group's Kafka members (subscriptions, epochs, last heartbeat), group epoch, partition counts, version",
      startsWith(sharePkPrefix),
      exactly(shareMembersSk),
    ],
    [
      'share delay index entry',
      'sharedelay#<topic id>#<partition>#<group>',
      '<due ms, 15 digits>#<first offset>',
      'lib/queues/store.ts',
      'records of a share partition deferred until a time (their deliver-at header): first and last offset, deliveries before, due time, the delay epoch of the state that deferred them',
      startsWith(shareDelayPkPrefix),
      any,
    ],
    [
      'share group index',
      sharesPk,
      '<group>',
      'lib/queues/store.ts',
      'createdMs: one item per share group, for listing',
      exactly(sharesPk),
      any,
    ],
    [
      'API key',
      authPk,
      'key#<id>',
      'lib/auth.ts',
      "a key's name, SHA-256 of its secret, permissions and createdMs",
      exactly(authPk),
      startsWith(apiKeySkPrefix),
    ],
  ] as const
).map(([kind, pk, sk, owner, holds, pkMatches, skMatches]) => ({
  kind,
  pk,
  sk,
  owner,
  holds,
  matches: (key: ItemKey) => pkMatches(key.pk) && skMatches(key.sk),
}));

/** The kind of item a key names; undefined for a key no module should write. */
export function kindOf(key: ItemKey): ItemKind | undefined {
  return itemKinds.find((kind) => kind.matches(key));
}
