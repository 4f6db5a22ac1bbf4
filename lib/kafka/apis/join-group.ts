/**
 * JoinGroup (key 11), versions 0–5 (v6 is the first flexible version). The first step of a classic
 * rebalance: each member sends the protocols it supports (for consumers, the assignors, each with a
 * ConsumerProtocolSubscription: see consumer-protocol.ts); the answer comes once the rebalance has
 * gathered every member, and only the leader's answer lists the members.
 *
 *   JoinGroup Request (Version: 0) => group_id session_timeout_ms member_id protocol_type [protocols]
 *   JoinGroup Request (Version: 1-4) => group_id session_timeout_ms rebalance_timeout_ms member_id protocol_type [protocols]
 *   JoinGroup Request (Version: 5) => group_id session_timeout_ms rebalance_timeout_ms member_id group_instance_id protocol_type [protocols]
 *     group_id => STRING
 *     session_timeout_ms => INT32
 *     rebalance_timeout_ms => INT32      (v0: the session timeout serves as both)
 *     member_id => STRING                "" on a member's first join
 *     group_instance_id => NULLABLE_STRING
 *     protocol_type => STRING            "consumer" for consumers; opaque to the coordinator
 *     protocols => name metadata
 *       name => STRING
 *       metadata => BYTES
 *
 *   JoinGroup Response (Version: 0-1) => error_code generation_id protocol_name leader member_id [members]
 *   JoinGroup Response (Version: 2-4) => throttle_time_ms error_code generation_id protocol_name leader member_id [members]
 *   JoinGroup Response (Version: 5) => throttle_time_ms error_code generation_id protocol_name leader member_id [members]
 *     throttle_time_ms => INT32
 *     error_code => INT16
 *     generation_id => INT32
 *     protocol_name => STRING
 *     leader => STRING
 *     member_id => STRING
 *     members => member_id [group_instance_id (v5)] metadata
 *       member_id => STRING
 *       group_instance_id => NULLABLE_STRING
 *       metadata => BYTES
 */
import type { ApiCodec } from '../api.js';

export interface GroupProtocol {
  readonly name: string;
  readonly metadata: Buffer;
}

export interface JoinGroupRequest {
  readonly groupId: string;
  readonly sessionTimeoutMs: number;
  /** v0 has none: the session timeout, as Kafka does. */
  readonly rebalanceTimeoutMs: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly protocolType: string;
  readonly protocols: readonly GroupProtocol[];
}

export interface JoinGroupMember {
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly metadata: Buffer;
}

export interface JoinGroupResponse {
  readonly throttleTimeMs: number;
  readonly errorCode: number;
  readonly generationId: number;
  readonly protocolName: string;
  readonly leader: string;
  readonly memberId: string;
  readonly members: readonly JoinGroupMember[];
}

export const joinGroup: ApiCodec<JoinGroupRequest, JoinGroupResponse> = {
  key: 11,
  name: 'JoinGroup',
  minVersion: 0,
  maxVersion: 5,
  decodeRequest(reader, version) {
    const groupId = reader.string('group_id');
    const sessionTimeoutMs = reader.int32('session_timeout_ms');
    const rebalanceTimeoutMs = version >= 1 ? reader.int32('rebalance_timeout_ms') : sessionTimeoutMs;
    const memberId = reader.string('member_id');
    const groupInstanceId = version >= 5 ? reader.nullableString('group_instance_id') : null;
    const protocolType = reader.string('protocol_type');
    const protocols = reader.array('protocols', (r) => ({
      name: r.string('protocols name'),
      metadata: r.bytesField('protocols metadata'),
    }));
    return { groupId, sessionTimeoutMs, rebalanceTimeoutMs, memberId, groupInstanceId, protocolType, protocols };
  },
  encodeResponse(writer, version, response) {
    if (version >= 2) writer.int32(response.throttleTimeMs);
    writer
      .int16(response.errorCode)
      .int32(response.generationId)
      .string(response.protocolName)
      .string(response.leader)
      .string(response.memberId);
    writer.array(response.members, (w, member) => {
      w.string(member.memberId);
      if (version >= 5) w.nullableString(member.groupInstanceId);
      w.nullableBytes(member.metadata);
    });
  },
};
