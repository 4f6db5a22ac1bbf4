/**
 * CreateTopics (key 19), versions 0–4 (none flexible).
 *
 *   CreateTopics Request => [topics] timeout_ms:INT32 validate_only:BOOLEAN (v1+)
 *     topics => name:STRING num_partitions:INT32 replication_factor:INT16 [assignments] [configs]
 *       assignments => partition_index:INT32 [broker_ids:INT32]
 *       configs => name:STRING value:NULLABLE_STRING
 *     num_partitions / replication_factor: -1 means the server's default (v4+)
 *
 *   CreateTopics Response => throttle_time_ms (v2+) [topics]
 *     topics => name:STRING error_code:INT16 error_message:NULLABLE_STRING (v1+)
 */
import type { ApiCodec } from '../api.js';

export interface CreatableTopic {
  readonly name: string;
  readonly numPartitions: number;
  readonly replicationFactor: number;
  readonly assignments: number;
  readonly configs: readonly { readonly name: string; readonly value: string | null }[];
}

export interface CreateTopicsRequest {
  readonly topics: readonly CreatableTopic[];
  readonly timeoutMs: number;
  readonly validateOnly: boolean;
}

export interface CreateTopicsResponse {
  readonly topics: readonly { readonly name: string; readonly errorCode: number; readonly errorMessage: string | null }[];
}

export const createTopics: ApiCodec<CreateTopicsRequest, CreateTopicsResponse> = {
  key: 19,
  name: 'CreateTopics',
  minVersion: 0,
  maxVersion: 4,
  decodeRequest(reader, version) {
    const topics = reader.array('topics', (r) => ({
      name: r.string('topic name'),
      numPartitions: r.int32('num_partitions'),
      replicationFactor: r.int16('replication_factor'),
      assignments: r.array('assignments', (a) => ({
        partition: a.int32('partition_index'),
        brokers: a.array('broker_ids', (b) => b.int32('broker id')),
      })).length,
      configs: r.array('configs', (c) => ({ name: c.string('config name'), value: c.nullableString('config value') })),
    }));
    const timeoutMs = reader.int32('timeout_ms');
    const validateOnly = version >= 1 ? reader.bool('validate_only') : false;
    return { topics, timeoutMs, validateOnly };
  },
  encodeResponse(writer, version, response) {
    if (version >= 2) writer.int32(0);
    writer.array(response.topics, (w, topic) => {
      w.string(topic.name).int16(topic.errorCode);
      if (version >= 1) w.nullableString(topic.errorMessage);
    });
  },
};
