/**
 * ListGroups (key 16), versions 0–2 (v3 is the first flexible version; v4 filters by state). Each
 * broker lists the groups it coordinates; an admin client asks every broker.
 *
 *   ListGroups Request (Version: 0-2) =>                         (empty)
 *
 *   ListGroups Response (Version: 0) => error_code [groups]
 *   ListGroups Response (Version: 1-2) => throttle_time_ms error_code [groups]
 *     throttle_time_ms => INT32
 *     error_code => INT16
 *     groups => group_id protocol_type
 *       group_id => STRING
 *       protocol_type => STRING
 */
import type { ApiCodec } from '../api.js';

export type ListGroupsRequest = Record<string, never>;

export interface ListGroupsResponse {
  readonly throttleTimeMs: number;
  readonly errorCode: number;
  readonly groups: readonly { readonly groupId: string; readonly protocolType: string }[];
}

export const listGroups: ApiCodec<ListGroupsRequest, ListGroupsResponse> = {
  key: 16,
  name: 'ListGroups',
  minVersion: 0,
  maxVersion: 2,
  decodeRequest() {
    return {};
  },
  encodeResponse(writer, version, response) {
    if (version >= 1) writer.int32(response.throttleTimeMs);
    writer.int16(response.errorCode).array(response.groups, (w, group) => {
      w.string(group.groupId).string(group.protocolType);
    });
  },
};
