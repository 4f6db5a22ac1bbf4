/**
 * Metadata (key 3), versions 0–8 (none flexible).
 *
 *   Metadata Request => [topics] allow_auto_topic_creation (v4+) include_cluster_authorized_operations (v8+)
 *                       include_topic_authorized_operations (v8+)
 *     topics => name:STRING            v0: an empty array means all topics; v1+: null means all
 *     allow_auto_topic_creation => BOOLEAN
 *     include_*_authorized_operations => BOOLEAN
 *
 *   Metadata Response => throttle_time_ms (v3+) [brokers] cluster_id (v2+) controller_id (v1+) [topics]
 *                        cluster_authorized_operations (v8+)
 *     brokers => node_id:INT32 host:STRING port:INT32 rack:NULLABLE_STRING (v1+)
 *     cluster_id => NULLABLE_STRING
 *     controller_id => INT32
 *     topics => error_code:INT16 name:STRING is_internal:BOOLEAN (v1+) [partitions] topic_authorized_operations:INT32 (v8+)
 *       partitions => error_code:INT16 partition_index:INT32 leader_id:INT32 leader_epoch:INT32 (v7+)
 *                     [replica_nodes:INT32] [isr_nodes:INT32] [offline_replicas:INT32] (v5+)
 *     cluster_authorized_operations => INT32
 */
import type { ApiCodec } from '../api.js';
import type { BrokerNode } from '../cluster.js';

export interface MetadataRequest {
  /** null: all topics. */
  readonly topics: readonly string[] | null;
  readonly allowAutoTopicCreation: boolean;
}

export interface MetadataPartition {
  readonly errorCode: number;
  readonly partitionIndex: number;
  readonly leaderId: number;
  readonly leaderEpoch: number;
  readonly replicaNodes: readonly number[];
  readonly isrNodes: readonly number[];
}

export interface MetadataTopic {
  readonly errorCode: number;
  readonly name: string;
  readonly partitions: readonly MetadataPartition[];
}

export interface MetadataResponse {
  readonly brokers: readonly BrokerNode[];
  readonly clusterId: string | null;
  readonly controllerId: number;
  readonly topics: readonly MetadataTopic[];
}

/** "Not requested" in the authorized-operations fields. */
const operationsOmitted = -2147483648;

export const metadata: ApiCodec<MetadataRequest, MetadataResponse> = {
  key: 3,
  name: 'Metadata',
  minVersion: 0,
  maxVersion: 8,
  decodeRequest(reader, version) {
    let topics = reader.nullableArray('topics', (r) => r.string('topic name'));
    if (version === 0 && topics?.length === 0) topics = null;
    const allowAutoTopicCreation = version >= 4 ? reader.bool('allow_auto_topic_creation') : true;
    if (version >= 8) {
      reader.bool('include_cluster_authorized_operations');
      reader.bool('include_topic_authorized_operations');
    }
    return { topics, allowAutoTopicCreation };
  },
  encodeResponse(writer, version, response) {
    if (version >= 3) writer.int32(0);
    writer.array(response.brokers, (w, broker) => {
      w.int32(broker.nodeId).string(broker.host).int32(broker.port);
      if (version >= 1) w.nullableString(broker.rack);
    });
    if (version >= 2) writer.nullableString(response.clusterId);
    if (version >= 1) writer.int32(response.controllerId);
    writer.array(response.topics, (w, topic) => {
      w.int16(topic.errorCode).string(topic.name);
      if (version >= 1) w.bool(false);
      w.array(topic.partitions, (pw, partition) => {
        pw.int16(partition.errorCode).int32(partition.partitionIndex).int32(partition.leaderId);
        if (version >= 7) pw.int32(partition.leaderEpoch);
        pw.array(partition.replicaNodes, (nw, node) => nw.int32(node));
        pw.array(partition.isrNodes, (nw, node) => nw.int32(node));
        if (version >= 5) pw.array([], () => {});
      });
      if (version >= 8) w.int32(operationsOmitted);
    });
    if (version >= 8) writer.int32(operationsOmitted);
  },
};
