/**
 * Every Kafka API this server serves, and the versions it serves of each: one table. Handlers take
 * their codec from here; ApiVersions answers what the registered handlers' codecs advertise; the
 * fuzz tests decode every entry at every version; the README's API table is generated from it.
 *
 * An entry is a generated message pair (protocol/messages/*.ts) narrowed with `served` to the
 * versions handled.
 */
import type { ApiCodec } from './api.js';
import { served } from './api.js';
import { AlterConfigs } from './protocol/messages/alter-configs.js';
import { ApiVersions } from './protocol/messages/api-versions.js';
import { DescribeConfigs } from './protocol/messages/describe-configs.js';
import { Fetch } from './protocol/messages/fetch.js';
import { Produce } from './protocol/messages/produce.js';
import { SaslAuthenticate } from './protocol/messages/sasl-authenticate.js';
import { SaslHandshake } from './protocol/messages/sasl-handshake.js';
import { DeleteGroups } from './protocol/messages/delete-groups.js';
import { DescribeGroups } from './protocol/messages/describe-groups.js';
import { DescribeProducers } from './protocol/messages/describe-producers.js';
import { FindCoordinator } from './protocol/messages/find-coordinator.js';
import { Heartbeat } from './protocol/messages/heartbeat.js';
import { InitProducerId } from './protocol/messages/init-producer-id.js';
import { AddOffsetsToTxn } from './protocol/messages/add-offsets-to-txn.js';
import { AddPartitionsToTxn } from './protocol/messages/add-partitions-to-txn.js';
import { DescribeTransactions } from './protocol/messages/describe-transactions.js';
import { EndTxn } from './protocol/messages/end-txn.js';
import { ListTransactions } from './protocol/messages/list-transactions.js';
import { TxnOffsetCommit } from './protocol/messages/txn-offset-commit.js';
import { WriteTxnMarkers } from './protocol/messages/write-txn-markers.js';
import { JoinGroup } from './protocol/messages/join-group.js';
import { LeaveGroup } from './protocol/messages/leave-group.js';
import { ListGroups } from './protocol/messages/list-groups.js';
import { OffsetCommit } from './protocol/messages/offset-commit.js';
import { OffsetDelete } from './protocol/messages/offset-delete.js';
import { OffsetFetch } from './protocol/messages/offset-fetch.js';
import { SyncGroup } from './protocol/messages/sync-group.js';
import { IncrementalAlterConfigs } from './protocol/messages/incremental-alter-configs.js';
import { ListOffsets } from './protocol/messages/list-offsets.js';
import { ConsumerGroupDescribe } from './protocol/messages/consumer-group-describe.js';
import { ConsumerGroupHeartbeat } from './protocol/messages/consumer-group-heartbeat.js';
import { Metadata } from './protocol/messages/metadata.js';
import { CreatePartitions } from './protocol/messages/create-partitions.js';
import { CreateTopics } from './protocol/messages/create-topics.js';
import { DeleteRecords } from './protocol/messages/delete-records.js';
import { DeleteTopics } from './protocol/messages/delete-topics.js';
import { DescribeCluster } from './protocol/messages/describe-cluster.js';
import { DescribeLogDirs } from './protocol/messages/describe-log-dirs.js';
import { DescribeTopicPartitions } from './protocol/messages/describe-topic-partitions.js';
import { UpdateFeatures } from './protocol/messages/update-features.js';
import { ShareAcknowledge } from './protocol/messages/share-acknowledge.js';
import { AlterShareGroupOffsets } from './protocol/messages/alter-share-group-offsets.js';
import { DeleteShareGroupOffsets } from './protocol/messages/delete-share-group-offsets.js';
import { DescribeShareGroupOffsets } from './protocol/messages/describe-share-group-offsets.js';
import { ShareFetch } from './protocol/messages/share-fetch.js';
import { ShareGroupDescribe } from './protocol/messages/share-group-describe.js';
import { ShareGroupHeartbeat } from './protocol/messages/share-group-heartbeat.js';

export const codecs = {
  // Produce v0-2 and Fetch v0-3 carry message sets older than RecordBatch v2, the only format stored (no down-conversion);
  // advertised from 0 for librdkafka's feature probes, refused with UNSUPPORTED_VERSION.
  produce: served(Produce, { min: 0, max: 13, handledFrom: 3 }),
  fetch: served(Fetch, { min: 0, max: 18, handledFrom: 4 }),
  listOffsets: served(ListOffsets, { min: 0, max: 11 }),
  metadata: served(Metadata, { min: 0, max: 13 }),
  offsetCommit: served(OffsetCommit, { min: 0, max: 10 }),
  offsetFetch: served(OffsetFetch, { min: 0, max: 10 }),
  findCoordinator: served(FindCoordinator, { min: 0, max: 6 }),
  joinGroup: served(JoinGroup, { min: 0, max: 9 }),
  heartbeat: served(Heartbeat, { min: 0, max: 4 }),
  leaveGroup: served(LeaveGroup, { min: 0, max: 5 }),
  syncGroup: served(SyncGroup, { min: 0, max: 5 }),
  describeGroups: served(DescribeGroups, { min: 0, max: 6 }),
  listGroups: served(ListGroups, { min: 0, max: 5 }),
  saslHandshake: served(SaslHandshake, { min: 0, max: 1 }),
  apiVersions: served(ApiVersions, { min: 0, max: 4 }),
  createTopics: served(CreateTopics, { min: 0, max: 7 }),
  deleteTopics: served(DeleteTopics, { min: 0, max: 6 }),
  deleteRecords: served(DeleteRecords, { min: 0, max: 2 }),
  initProducerId: served(InitProducerId, { min: 0, max: 5 }),
  describeConfigs: served(DescribeConfigs, { min: 0, max: 4 }),
  alterConfigs: served(AlterConfigs, { min: 0, max: 2 }),
  incrementalAlterConfigs: served(IncrementalAlterConfigs, { min: 0, max: 1 }),
  saslAuthenticate: served(SaslAuthenticate, { min: 0, max: 2 }),
  describeLogDirs: served(DescribeLogDirs, { min: 0, max: 4 }),
  createPartitions: served(CreatePartitions, { min: 0, max: 3 }),
  describeCluster: served(DescribeCluster, { min: 0, max: 2 }),
  // kafka-features.sh upgrade: Spool's own feature levels (lib/log/features.ts).
  updateFeatures: served(UpdateFeatures, { min: 0, max: 2 }),
  describeTopicPartitions: served(DescribeTopicPartitions, { min: 0, max: 0 }),
  deleteGroups: served(DeleteGroups, { min: 0, max: 3 }),
  offsetDelete: served(OffsetDelete, { min: 0, max: 0 }),
  consumerGroupHeartbeat: served(ConsumerGroupHeartbeat, { min: 0, max: 1 }),
  consumerGroupDescribe: served(ConsumerGroupDescribe, { min: 0, max: 1 }),
  // KIP-932 share groups: v0 was 4.0's early access, gone since 4.1 (not generated).
  shareGroupHeartbeat: served(ShareGroupHeartbeat, { min: 1, max: 1 }),
  shareGroupDescribe: served(ShareGroupDescribe, { min: 1, max: 1 }),
  shareFetch: served(ShareFetch, { min: 1, max: 2 }),
  shareAcknowledge: served(ShareAcknowledge, { min: 1, max: 2 }),
  // kafka-share-groups.sh's --describe, --reset-offsets and --delete-offsets.
  describeShareGroupOffsets: served(DescribeShareGroupOffsets, { min: 0, max: 1 }),
  alterShareGroupOffsets: served(AlterShareGroupOffsets, { min: 0, max: 0 }),
  deleteShareGroupOffsets: served(DeleteShareGroupOffsets, { min: 0, max: 0 }),
  describeProducers: served(DescribeProducers, { min: 0, max: 0 }),
  // The client's AddPartitionsToTxn (v4+ is broker to coordinator, KIP-890, which Spool has no need of).
  addPartitionsToTxn: served(AddPartitionsToTxn, { min: 0, max: 3 }),
  addOffsetsToTxn: served(AddOffsetsToTxn, { min: 0, max: 4 }),
  endTxn: served(EndTxn, { min: 0, max: 5 }),
  txnOffsetCommit: served(TxnOffsetCommit, { min: 0, max: 5 }),
  // An operator's abort (kafka-transactions.sh abort); Spool's coordinator writes its own markers.
  writeTxnMarkers: served(WriteTxnMarkers, { min: 0, max: 2 }),
  describeTransactions: served(DescribeTransactions, { min: 0, max: 0 }),
  listTransactions: served(ListTransactions, { min: 0, max: 2 }),
} as const;

/** Every served codec, by API key. */
export const servedCodecs: readonly ApiCodec<unknown, unknown>[] = (Object.values(codecs) as ApiCodec<unknown, unknown>[]).sort(
  (a, b) => a.key - b.key,
);
