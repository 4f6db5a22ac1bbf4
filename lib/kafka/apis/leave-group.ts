/**
 * LeaveGroup (key 13), versions 0–3 (v4 is the first flexible version). v3 leaves several members at
 * once (Kafka's batch leave, KIP-345) and answers per member.
 *
 *   LeaveGroup Request (Version: 0-2) => group_id member_id
 *   LeaveGroup Request (Version: 3) => group_id [members]
 *     group_id => STRING
 *     member_id => STRING
 *     members => member_id group_instance_id
 *       member_id => STRING
 *       group_instance_id => NULLABLE_STRING
 *
 *   LeaveGroup Response (Version: 0) => error_code
 *   LeaveGroup Response (Version: 1-2) => throttle_time_ms error_code
 *   LeaveGroup Response (Version: 3) => throttle_time_ms error_code [members]
 *     throttle_time_ms => INT32
 *     error_code => INT16
 *     members => member_id group_instance_id error_code
 *       member_id => STRING
 *       group_instance_id => NULLABLE_STRING
 *       error_code => INT16
 */
import type { ApiCodec } from '../api.js';

export interface LeavingMember {
  readonly memberId: string;
  readonly groupInstanceId: string | null;
}

export interface LeaveGroupRequest {
  readonly groupId: string;
  /** v0–2: the one member named. */
  readonly members: readonly LeavingMember[];
}

export interface LeaveGroupResponse {
  readonly throttleTimeMs: number;
  /** v0–2 carry only this: the one member's error. */
  readonly errorCode: number;
  readonly members: readonly (LeavingMember & { readonly errorCode: number })[];
}

export const leaveGroup: ApiCodec<LeaveGroupRequest, LeaveGroupResponse> = {
  key: 13,
  name: 'LeaveGroup',
  minVersion: 0,
  maxVersion: 3,
  decodeRequest(reader, version) {
    const groupId = reader.string('group_id');
    if (version < 3) return { groupId, members: [{ memberId: reader.string('member_id'), groupInstanceId: null }] };
    const members = reader.array('members', (r) => ({
      memberId: r.string('members member_id'),
      groupInstanceId: r.nullableString('members group_instance_id'),
    }));
    return { groupId, members };
  },
  encodeResponse(writer, version, response) {
    if (version >= 1) writer.int32(response.throttleTimeMs);
    writer.int16(response.errorCode);
    if (version >= 3) {
      writer.array(response.members, (w, member) => {
        w.string(member.memberId).nullableString(member.groupInstanceId).int16(member.errorCode);
      });
    }
  },
};
