/**
 * OffsetCommit (key 8), versions 0–7 (v8 is the first flexible version). Every version is served:
 * v0 is a commit with no member (a "simple" commit), v1 adds membership and a per-partition
 * timestamp, v2–4 a retention time (both ignored: offsets live as long as their group), v6 the leader
 * epoch (ignored), v7 the static member id.
 *
 *   OffsetCommit Request (Version: 0) => group_id [topics]
 *   OffsetCommit Request (Version: 1) => group_id generation_id member_id [topics]
 *   OffsetCommit Request (Version: 2-4) => group_id generation_id member_id retention_time_ms [topics]
 *   OffsetCommit Request (Version: 5-6) => group_id generation_id member_id [topics]
 *   OffsetCommit Request (Version: 7) => group_id generation_id member_id group_instance_id [topics]
 *     group_id => STRING
 *     generation_id => INT32             -1 (with member_id "") for a commit from outside the group
 *     member_id => STRING
 *     group_instance_id => NULLABLE_STRING
 *     retention_time_ms => INT64
 *     topics => name [partitions]
 *       name => STRING
 *       partitions => partition_index committed_offset [committed_leader_epoch (v6+)] [commit_timestamp (v1)] committed_metadata
 *         partition_index => INT32
 *         committed_offset => INT64
 *         committed_leader_epoch => INT32
 *         commit_timestamp => INT64
 *         committed_metadata => NULLABLE_STRING
 *
 *   OffsetCommit Response (Version: 0-2) => [topics]
 *   OffsetCommit Response (Version: 3-7) => throttle_time_ms [topics]
 *     throttle_time_ms => INT32
 *     topics => name [partitions]
 *       name => STRING
 *       partitions => partition_index error_code
 *         partition_index => INT32
 *         error_code => INT16
 */
import type { ApiCodec } from '../api.js';

export interface OffsetCommitPartition {
  readonly partitionIndex: number;
  readonly committedOffset: number;
  readonly committedLeaderEpoch: number;
  readonly committedMetadata: string | null;
}

export interface OffsetCommitRequest {
  readonly groupId: string;
  /** -1 in v0. */
  readonly generationId: number;
  /** "" in v0. */
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly topics: readonly { readonly name: string; readonly partitions: readonly OffsetCommitPartition[] }[];
}

export interface OffsetCommitResponse {
  readonly throttleTimeMs: number;
  readonly topics: readonly {
    readonly name: string;
    readonly partitions: readonly { readonly partitionIndex: number; readonly errorCode: number }[];
  }[];
}

export const offsetCommit: ApiCodec<OffsetCommitRequest, OffsetCommitResponse> = {
  key: 8,
  name: 'OffsetCommit',
  minVersion: 0,
  maxVersion: 7,
  decodeRequest(reader, version) {
    const groupId = reader.string('group_id');
    const generationId = version >= 1 ? reader.int32('generation_id') : -1;
    const memberId = version >= 1 ? reader.string('member_id') : '';
    const groupInstanceId = version >= 7 ? reader.nullableString('group_instance_id') : null;
    if (version >= 2 && version <= 4) reader.int64('retention_time_ms');
    const topics = reader.array('topics', (t) => ({
      name: t.string('topics name'),
      partitions: t.array('partitions', (p) => {
        const partitionIndex = p.int32('partition_index');
        const committedOffset = p.int64('committed_offset');
        const committedLeaderEpoch = version >= 6 ? p.int32('committed_leader_epoch') : -1;
        if (version === 1) p.int64('commit_timestamp');
        return { partitionIndex, committedOffset, committedLeaderEpoch, committedMetadata: p.nullableString('committed_metadata') };
      }),
    }));
    return { groupId, generationId, memberId, groupInstanceId, topics };
  },
  encodeResponse(writer, version, response) {
    if (version >= 3) writer.int32(response.throttleTimeMs);
    writer.array(response.topics, (w, topic) => {
      w.string(topic.name).array(topic.partitions, (pw, partition) => {
        pw.int32(partition.partitionIndex).int16(partition.errorCode);
      });
    });
  },
};
