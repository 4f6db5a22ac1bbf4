/**
 * Heartbeat (key 12), versions 0–3 (v4 is the first flexible version). Keeps a member's session alive
 * on the coordinator; REBALANCE_IN_PROGRESS tells it to join again.
 *
 *   Heartbeat Request (Version: 0-2) => group_id generation_id member_id
 *   Heartbeat Request (Version: 3) => group_id generation_id member_id group_instance_id
 *     group_id => STRING
 *     generation_id => INT32
 *     member_id => STRING
 *     group_instance_id => NULLABLE_STRING
 *
 *   Heartbeat Response (Version: 0) => error_code
 *   Heartbeat Response (Version: 1-3) => throttle_time_ms error_code
 *     throttle_time_ms => INT32
 *     error_code => INT16
 */
import type { ApiCodec } from '../api.js';

export interface HeartbeatRequest {
  readonly groupId: string;
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
}

export interface HeartbeatResponse {
  readonly throttleTimeMs: number;
  readonly errorCode: number;
}

export const heartbeat: ApiCodec<HeartbeatRequest, HeartbeatResponse> = {
  key: 12,
  name: 'Heartbeat',
  minVersion: 0,
  maxVersion: 3,
  decodeRequest(reader, version) {
    const groupId = reader.string('group_id');
    const generationId = reader.int32('generation_id');
    const memberId = reader.string('member_id');
    const groupInstanceId = version >= 3 ? reader.nullableString('group_instance_id') : null;
    return { groupId, generationId, memberId, groupInstanceId };
  },
  encodeResponse(writer, version, response) {
    if (version >= 1) writer.int32(response.throttleTimeMs);
    writer.int16(response.errorCode);
  },
};
