/**
 * FindCoordinator (key 10), versions 0–2 (v3 is the first flexible version; v4 batches keys). The
 * answer names the agent holding the group's coordinator lease.
 *
 *   FindCoordinator Request (Version: 0) => key
 *   FindCoordinator Request (Version: 1-2) => key key_type
 *     key => STRING                      the group id (or transactional id)
 *     key_type => INT8                   0 = group, 1 = transaction
 *
 *   FindCoordinator Response (Version: 0) => error_code node_id host port
 *   FindCoordinator Response (Version: 1-2) => throttle_time_ms error_code error_message node_id host port
 *     throttle_time_ms => INT32
 *     error_code => INT16
 *     error_message => NULLABLE_STRING
 *     node_id => INT32                   -1 with an error
 *     host => STRING
 *     port => INT32
 */
import type { ApiCodec } from '../api.js';

export const coordinatorKeyTypes = { group: 0, transaction: 1 } as const;

export interface FindCoordinatorRequest {
  readonly key: string;
  readonly keyType: number;
}

export interface FindCoordinatorResponse {
  readonly throttleTimeMs: number;
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
}

export const findCoordinator: ApiCodec<FindCoordinatorRequest, FindCoordinatorResponse> = {
  key: 10,
  name: 'FindCoordinator',
  minVersion: 0,
  maxVersion: 2,
  decodeRequest(reader, version) {
    const key = reader.string('key');
    const keyType = version >= 1 ? reader.int8('key_type') : coordinatorKeyTypes.group;
    return { key, keyType };
  },
  encodeResponse(writer, version, response) {
    if (version >= 1) writer.int32(response.throttleTimeMs);
    writer.int16(response.errorCode);
    if (version >= 1) writer.nullableString(response.errorMessage);
    writer.int32(response.nodeId).string(response.host).int32(response.port);
  },
};
