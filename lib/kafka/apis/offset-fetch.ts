/**
 * OffsetFetch (key 9), versions 0–5 (v6 is the first flexible version). A partition with no committed
 * offset answers -1. v0 read ZooKeeper in Kafka; here every version reads the same store.
 *
 *   OffsetFetch Request (Version: 0-1) => group_id [topics]
 *   OffsetFetch Request (Version: 2-5) => group_id [topics]        topics may be null: every committed offset
 *     group_id => STRING
 *     topics => name [partition_indexes]
 *       name => STRING
 *       partition_indexes => INT32
 *
 *   OffsetFetch Response (Version: 0-1) => [topics]
 *   OffsetFetch Response (Version: 2) => [topics] error_code
 *   OffsetFetch Response (Version: 3-4) => throttle_time_ms [topics] error_code
 *   OffsetFetch Response (Version: 5) => throttle_time_ms [topics] error_code
 *     throttle_time_ms => INT32
 *     topics => name [partitions]
 *       name => STRING
 *       partitions => partition_index committed_offset [committed_leader_epoch (v5)] metadata error_code
 *         partition_index => INT32
 *         committed_offset => INT64
 *         committed_leader_epoch => INT32
 *         metadata => NULLABLE_STRING
 *         error_code => INT16
 *     error_code => INT16               the group-level error (v0–1 carry it in every partition)
 */
import type { ApiCodec } from '../api.js';

export interface OffsetFetchRequest {
  readonly groupId: string;
  /** null: every partition with a committed offset (v2+). */
  readonly topics: readonly { readonly name: string; readonly partitionIndexes: readonly number[] }[] | null;
}

export interface OffsetFetchPartition {
  readonly partitionIndex: number;
  readonly committedOffset: number;
  readonly committedLeaderEpoch: number;
  readonly metadata: string | null;
  readonly errorCode: number;
}

export interface OffsetFetchResponse {
  readonly throttleTimeMs: number;
  readonly topics: readonly { readonly name: string; readonly partitions: readonly OffsetFetchPartition[] }[];
  readonly errorCode: number;
}

export const offsetFetch: ApiCodec<OffsetFetchRequest, OffsetFetchResponse> = {
  key: 9,
  name: 'OffsetFetch',
  minVersion: 0,
  maxVersion: 5,
  decodeRequest(reader, version) {
    const groupId = reader.string('group_id');
    const topic = (r: typeof reader) => ({
      name: r.string('topics name'),
      partitionIndexes: r.array('partition_indexes', (p) => p.int32('partition_index')),
    });
    const topics = version >= 2 ? reader.nullableArray('topics', topic) : reader.array('topics', topic);
    return { groupId, topics };
  },
  encodeResponse(writer, version, response) {
    if (version >= 3) writer.int32(response.throttleTimeMs);
    writer.array(response.topics, (w, topic) => {
      w.string(topic.name).array(topic.partitions, (pw, partition) => {
        pw.int32(partition.partitionIndex).int64(partition.committedOffset);
        if (version >= 5) pw.int32(partition.committedLeaderEpoch);
        // v0–1 have no group-level error: a group failure is every partition's.
        pw.nullableString(partition.metadata).int16(version < 2 && response.errorCode !== 0 ? response.errorCode : partition.errorCode);
      });
    });
    if (version >= 2) writer.int16(response.errorCode);
  },
};
