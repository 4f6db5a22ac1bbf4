/**
 * DescribeGroups (key 15), versions 0–4 (v5 is the first flexible version). A group this broker does
 * not know is answered in state "Dead" with no error, as Kafka does.
 *
 *   DescribeGroups Request (Version: 0-2) => [groups]
 *   DescribeGroups Request (Version: 3-4) => [groups] include_authorized_operations
 *     groups => STRING
 *     include_authorized_operations => BOOLEAN
 *
 *   DescribeGroups Response (Version: 0) => [groups]
 *   DescribeGroups Response (Version: 1-2) => throttle_time_ms [groups]
 *   DescribeGroups Response (Version: 3-4) => throttle_time_ms [groups]        each group ends with authorized_operations
 *     throttle_time_ms => INT32
 *     groups => error_code group_id group_state protocol_type protocol_data [members] [authorized_operations (v3+)]
 *       error_code => INT16
 *       group_id => STRING
 *       group_state => STRING          Empty, PreparingRebalance, CompletingRebalance, Stable or Dead
 *       protocol_type => STRING        "consumer" for consumer groups
 *       protocol_data => STRING        the chosen protocol (assignor)
 *       members => member_id [group_instance_id (v4)] client_id client_host member_metadata member_assignment
 *         member_id => STRING
 *         group_instance_id => NULLABLE_STRING
 *         client_id => STRING
 *         client_host => STRING
 *         member_metadata => BYTES
 *         member_assignment => BYTES
 *       authorized_operations => INT32 a bit field; -2147483648 when not asked for
 */
import type { ApiCodec } from '../api.js';

export interface DescribeGroupsRequest {
  readonly groups: readonly string[];
  readonly includeAuthorizedOperations: boolean;
}

export interface DescribedMember {
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly memberMetadata: Buffer;
  readonly memberAssignment: Buffer;
}

export interface DescribedGroup {
  readonly errorCode: number;
  readonly groupId: string;
  readonly groupState: string;
  readonly protocolType: string;
  readonly protocolData: string;
  readonly members: readonly DescribedMember[];
  readonly authorizedOperations: number;
}

export interface DescribeGroupsResponse {
  readonly throttleTimeMs: number;
  readonly groups: readonly DescribedGroup[];
}

/** authorized_operations when the client did not ask for them. */
export const operationsNotAsked = -2147483648;

export const describeGroups: ApiCodec<DescribeGroupsRequest, DescribeGroupsResponse> = {
  key: 15,
  name: 'DescribeGroups',
  minVersion: 0,
  maxVersion: 4,
  decodeRequest(reader, version) {
    const groups = reader.array('groups', (r) => r.string('groups'));
    const includeAuthorizedOperations = version >= 3 ? reader.bool('include_authorized_operations') : false;
    return { groups, includeAuthorizedOperations };
  },
  encodeResponse(writer, version, response) {
    if (version >= 1) writer.int32(response.throttleTimeMs);
    writer.array(response.groups, (w, group) => {
      w.int16(group.errorCode).string(group.groupId).string(group.groupState).string(group.protocolType).string(group.protocolData);
      w.array(group.members, (mw, member) => {
        mw.string(member.memberId);
        if (version >= 4) mw.nullableString(member.groupInstanceId);
        mw.string(member.clientId).string(member.clientHost).nullableBytes(member.memberMetadata).nullableBytes(member.memberAssignment);
      });
      if (version >= 3) w.int32(group.authorizedOperations);
    });
  },
};
