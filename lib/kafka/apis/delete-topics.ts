/**
 * DeleteTopics (key 20), versions 0–3 (none flexible).
 *
 *   DeleteTopics Request => [topic_names:STRING] timeout_ms:INT32
 *   DeleteTopics Response => throttle_time_ms:INT32 (v1+) [responses]
 *     responses => name:STRING error_code:INT16
 */
import type { ApiCodec } from '../api.js';

export interface DeleteTopicsRequest {
  readonly topicNames: readonly string[];
  readonly timeoutMs: number;
}

export interface DeleteTopicsResponse {
  readonly responses: readonly { readonly name: string; readonly errorCode: number }[];
}

export const deleteTopics: ApiCodec<DeleteTopicsRequest, DeleteTopicsResponse> = {
  key: 20,
  name: 'DeleteTopics',
  minVersion: 0,
  maxVersion: 3,
  decodeRequest(reader) {
    return { topicNames: reader.array('topic_names', (r) => r.string('topic name')), timeoutMs: reader.int32('timeout_ms') };
  },
  encodeResponse(writer, version, response) {
    if (version >= 1) writer.int32(0);
    writer.array(response.responses, (w, topic) => w.string(topic.name).int16(topic.errorCode));
  },
};
