/**
 * Fetch (key 1), versions 0–11 (none flexible). Advertised from 0 for librdkafka's feature probe;
 * versions below 4 cannot carry RecordBatch v2 and are answered UNSUPPORTED_VERSION per partition.
 * Spool keeps no fetch sessions: it answers session_id 0, and clients then send full fetches.
 *
 *   Fetch Request => replica_id max_wait_ms min_bytes max_bytes (v3+) isolation_level (v4+)
 *                    session_id (v7+) session_epoch (v7+) [topics] [forgotten_topics_data] (v7+) rack_id (v11+)
 *     replica_id, max_wait_ms, min_bytes, max_bytes, session_id, session_epoch => INT32
 *     isolation_level => INT8
 *     topics => topic:STRING [partitions]
 *       partitions => partition:INT32 current_leader_epoch:INT32 (v9+) fetch_offset:INT64
 *                     log_start_offset:INT64 (v5+) partition_max_bytes:INT32
 *     forgotten_topics_data => topic:STRING [partitions:INT32]
 *     rack_id => STRING
 *
 *   Fetch Response => throttle_time_ms (v1+) error_code (v7+) session_id (v7+) [responses]
 *     responses => topic:STRING [partitions]
 *       partitions => partition_index:INT32 error_code:INT16 high_watermark:INT64 last_stable_offset:INT64 (v4+)
 *                     log_start_offset:INT64 (v5+) [aborted_transactions] (v4+, nullable)
 *                     preferred_read_replica:INT32 (v11+) records:NULLABLE_BYTES
 *         aborted_transactions => producer_id:INT64 first_offset:INT64
 */
import type { ApiCodec } from '../api.js';

export interface FetchPartitionRequest {
  readonly partition: number;
  readonly fetchOffset: number;
  readonly partitionMaxBytes: number;
}

export interface FetchRequest {
  readonly maxWaitMs: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly isolationLevel: number;
  readonly topics: readonly { readonly topic: string; readonly partitions: readonly FetchPartitionRequest[] }[];
}

export interface FetchPartitionResponse {
  readonly partitionIndex: number;
  readonly errorCode: number;
  readonly highWatermark: number;
  readonly logStartOffset: number;
  /** Stored batches with their base offsets patched, sent as they are. */
  readonly records: readonly Buffer[];
}

export interface FetchResponse {
  readonly errorCode: number;
  readonly responses: readonly { readonly topic: string; readonly partitions: readonly FetchPartitionResponse[] }[];
}

export const fetch: ApiCodec<FetchRequest, FetchResponse> = {
  key: 1,
  name: 'Fetch',
  minVersion: 0,
  maxVersion: 11,
  decodeRequest(reader, version) {
    reader.int32('replica_id');
    const maxWaitMs = reader.int32('max_wait_ms');
    const minBytes = reader.int32('min_bytes');
    const maxBytes = version >= 3 ? reader.int32('max_bytes') : 0x7fffffff;
    const isolationLevel = version >= 4 ? reader.int8('isolation_level') : 0;
    if (version >= 7) {
      reader.int32('session_id');
      reader.int32('session_epoch');
    }
    const topics = reader.array('topics', (r) => ({
      topic: r.string('topic'),
      partitions: r.array('partitions', (p) => {
        const partition = p.int32('partition');
        if (version >= 9) p.int32('current_leader_epoch');
        const fetchOffset = p.int64('fetch_offset');
        if (version >= 5) p.int64('log_start_offset');
        return { partition, fetchOffset, partitionMaxBytes: p.int32('partition_max_bytes') };
      }),
    }));
    if (version >= 7) reader.array('forgotten_topics_data', (r) => ({ topic: r.string('topic'), partitions: r.array('partitions', (p) => p.int32('partition')) }));
    if (version >= 11) reader.string('rack_id');
    return { maxWaitMs, minBytes, maxBytes, isolationLevel, topics };
  },
  encodeResponse(writer, version, response) {
    if (version >= 1) writer.int32(0);
    if (version >= 7) writer.int16(response.errorCode).int32(0);
    writer.array(response.responses, (w, topic) => {
      w.string(topic.topic);
      w.array(topic.partitions, (pw, partition) => {
        pw.int32(partition.partitionIndex).int16(partition.errorCode).int64(partition.highWatermark);
        if (version >= 4) pw.int64(partition.highWatermark);
        if (version >= 5) pw.int64(partition.logStartOffset);
        if (version >= 4) pw.nullableArray(null, () => {});
        if (version >= 11) pw.int32(-1);
        pw.bytesOf(partition.records);
      });
    });
  },
};
