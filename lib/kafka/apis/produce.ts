/**
 * Produce (key 0), versions 0–8 (none flexible). Advertised from 0 because librdkafka's feature
 * detection probes Produce 0; versions below 3 carry message sets v0/v1, which Spool does not store,
 * and are answered UNSUPPORTED_FOR_MESSAGE_FORMAT (handlers/produce.ts).
 *
 *   Produce Request => transactional_id (v3+) acks timeout_ms [topic_data]
 *     transactional_id => NULLABLE_STRING
 *     acks => INT16                      0: no answer at all; 1 / -1: answer after the commit
 *     timeout_ms => INT32
 *     topic_data => name:STRING [partition_data]
 *       partition_data => index:INT32 records:NULLABLE_BYTES (RecordBatch v2, one or more)
 *
 *   Produce Response => [responses] throttle_time_ms (v1+)
 *     responses => name:STRING [partition_responses]
 *       partition_responses => index:INT32 error_code:INT16 base_offset:INT64 log_append_time_ms:INT64 (v2+)
 *                              log_start_offset:INT64 (v5+) [record_errors] (v8+) error_message:NULLABLE_STRING (v8+)
 *         record_errors => batch_index:INT32 batch_index_error_message:NULLABLE_STRING
 */
import type { ApiCodec } from '../api.js';

export interface ProducePartitionData {
  readonly index: number;
  readonly records: Buffer | null;
}

export interface ProduceRequest {
  readonly transactionalId: string | null;
  readonly acks: number;
  readonly timeoutMs: number;
  readonly topics: readonly { readonly name: string; readonly partitions: readonly ProducePartitionData[] }[];
}

export interface ProducePartitionResponse {
  readonly index: number;
  readonly errorCode: number;
  readonly baseOffset: number;
  readonly logAppendTimeMs: number;
  readonly logStartOffset: number;
  /** The records that failed validation (v8+), by their index in the batch. */
  readonly recordErrors: readonly { readonly batchIndex: number; readonly message: string | null }[];
  readonly errorMessage: string | null;
}

export interface ProduceResponse {
  readonly topics: readonly { readonly name: string; readonly partitions: readonly ProducePartitionResponse[] }[];
}

export const produce: ApiCodec<ProduceRequest, ProduceResponse> = {
  key: 0,
  name: 'Produce',
  minVersion: 0,
  maxVersion: 8,
  decodeRequest(reader, version) {
    const transactionalId = version >= 3 ? reader.nullableString('transactional_id') : null;
    const acks = reader.int16('acks');
    const timeoutMs = reader.int32('timeout_ms');
    const topics = reader.array('topic_data', (r) => ({
      name: r.string('topic name'),
      partitions: r.array('partition_data', (p) => ({ index: p.int32('partition index'), records: p.nullableBytes('records') })),
    }));
    return { transactionalId, acks, timeoutMs, topics };
  },
  encodeResponse(writer, version, response) {
    writer.array(response.topics, (w, topic) => {
      w.string(topic.name);
      w.array(topic.partitions, (pw, partition) => {
        pw.int32(partition.index).int16(partition.errorCode).int64(partition.baseOffset);
        if (version >= 2) pw.int64(partition.logAppendTimeMs);
        if (version >= 5) pw.int64(partition.logStartOffset);
        if (version >= 8)
          pw.array(partition.recordErrors, (ew, error) => ew.int32(error.batchIndex).nullableString(error.message)).nullableString(
            partition.errorMessage,
          );
      });
    });
    if (version >= 1) writer.int32(0);
  },
};
