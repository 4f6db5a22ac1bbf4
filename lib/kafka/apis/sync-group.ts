/**
 * SyncGroup (key 14), versions 0–3 (v4 is the first flexible version). The second step of a classic
 * rebalance: the leader sends every member's assignment (for consumers, a ConsumerProtocolAssignment:
 * see consumer-protocol.ts), the others send none, and each gets its own.
 *
 *   SyncGroup Request (Version: 0-2) => group_id generation_id member_id [assignments]
 *   SyncGroup Request (Version: 3) => group_id generation_id member_id group_instance_id [assignments]
 *     group_id => STRING
 *     generation_id => INT32
 *     member_id => STRING
 *     group_instance_id => NULLABLE_STRING
 *     assignments => member_id assignment
 *       member_id => STRING
 *       assignment => BYTES
 *
 *   SyncGroup Response (Version: 0) => error_code assignment
 *   SyncGroup Response (Version: 1-3) => throttle_time_ms error_code assignment
 *     throttle_time_ms => INT32
 *     error_code => INT16
 *     assignment => BYTES
 */
import type { ApiCodec } from '../api.js';

export interface SyncGroupAssignment {
  readonly memberId: string;
  readonly assignment: Buffer;
}

export interface SyncGroupRequest {
  readonly groupId: string;
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly assignments: readonly SyncGroupAssignment[];
}

export interface SyncGroupResponse {
  readonly throttleTimeMs: number;
  readonly errorCode: number;
  readonly assignment: Buffer;
}

export const syncGroup: ApiCodec<SyncGroupRequest, SyncGroupResponse> = {
  key: 14,
  name: 'SyncGroup',
  minVersion: 0,
  maxVersion: 3,
  decodeRequest(reader, version) {
    const groupId = reader.string('group_id');
    const generationId = reader.int32('generation_id');
    const memberId = reader.string('member_id');
    const groupInstanceId = version >= 3 ? reader.nullableString('group_instance_id') : null;
    const assignments = reader.array('assignments', (r) => ({
      memberId: r.string('assignments member_id'),
      assignment: r.bytesField('assignments assignment'),
    }));
    return { groupId, generationId, memberId, groupInstanceId, assignments };
  },
  encodeResponse(writer, version, response) {
    if (version >= 1) writer.int32(response.throttleTimeMs);
    writer.int16(response.errorCode).nullableBytes(response.assignment);
  },
};
