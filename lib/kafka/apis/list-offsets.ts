/**
 * ListOffsets (key 2), versions 0–5 (none flexible); 0 is advertised for old clients' probes and
 * answered with its own layout (a list of at most one offset).
 *
 *   ListOffsets Request => replica_id:INT32 isolation_level:INT8 (v2+) [topics]
 *     topics => name:STRING [partitions]
 *       partitions => partition_index:INT32 current_leader_epoch:INT32 (v4+) timestamp:INT64 max_num_offsets:INT32 (v0)
 *                     timestamp: -1 latest, -2 earliest, else the first offset at or after this time (ms)
 *
 *   ListOffsets Response => throttle_time_ms (v2+) [topics]
 *     topics => name:STRING [partitions]
 *       partitions => partition_index:INT32 error_code:INT16 [old_style_offsets:INT64] (v0)
 *                     timestamp:INT64 (v1+) offset:INT64 (v1+) leader_epoch:INT32 (v4+)
 */
import type { ApiCodec } from '../api.js';

export const LATEST_TIMESTAMP = -1;
export const EARLIEST_TIMESTAMP = -2;

export interface ListOffsetsRequest {
  readonly topics: readonly { readonly name: string; readonly partitions: readonly { readonly partitionIndex: number; readonly timestamp: number }[] }[];
}

export interface ListOffsetsPartitionResponse {
  readonly partitionIndex: number;
  readonly errorCode: number;
  readonly timestamp: number;
  readonly offset: number;
  readonly leaderEpoch: number;
}

export interface ListOffsetsResponse {
  readonly topics: readonly { readonly name: string; readonly partitions: readonly ListOffsetsPartitionResponse[] }[];
}

export const listOffsets: ApiCodec<ListOffsetsRequest, ListOffsetsResponse> = {
  key: 2,
  name: 'ListOffsets',
  minVersion: 0,
  maxVersion: 5,
  decodeRequest(reader, version) {
    reader.int32('replica_id');
    if (version >= 2) reader.int8('isolation_level');
    const topics = reader.array('topics', (r) => ({
      name: r.string('topic name'),
      partitions: r.array('partitions', (p) => {
        const partitionIndex = p.int32('partition_index');
        if (version >= 4) p.int32('current_leader_epoch');
        const timestamp = p.int64('timestamp');
        if (version === 0) p.int32('max_num_offsets');
        return { partitionIndex, timestamp };
      }),
    }));
    return { topics };
  },
  encodeResponse(writer, version, response) {
    if (version >= 2) writer.int32(0);
    writer.array(response.topics, (w, topic) => {
      w.string(topic.name);
      w.array(topic.partitions, (pw, partition) => {
        pw.int32(partition.partitionIndex).int16(partition.errorCode);
        if (version === 0) {
          pw.array(partition.offset >= 0 ? [partition.offset] : [], (ow, offset) => ow.int64(offset));
          return;
        }
        pw.int64(partition.timestamp).int64(partition.offset);
        if (version >= 4) pw.int32(partition.leaderEpoch);
      });
    });
  },
};
