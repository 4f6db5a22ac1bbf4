/**
 * ApiVersions (key 18), versions 0–3; 3 is flexible. The response header is always v0 (no tagged
 * fields), even for v3, so that a client can read the answer before it knows what the server speaks.
 *
 *   ApiVersions Request (Version: 0-2) =>                       (empty)
 *   ApiVersions Request (Version: 3) => client_software_name client_software_version TAG_BUFFER
 *     client_software_name => COMPACT_STRING
 *     client_software_version => COMPACT_STRING
 *
 *   ApiVersions Response (Version: 0) => error_code [api_keys]
 *   ApiVersions Response (Version: 1-2) => error_code [api_keys] throttle_time_ms
 *   ApiVersions Response (Version: 3) => error_code [api_keys] throttle_time_ms TAG_BUFFER
 *     error_code => INT16
 *     api_keys => api_key min_version max_version (TAG_BUFFER in v3)
 *       api_key => INT16
 *       min_version => INT16
 *       max_version => INT16
 *     throttle_time_ms => INT32
 */
import type { ApiCodec } from '../api.js';

export interface ApiVersionsRequest {
  readonly clientSoftwareName?: string;
  readonly clientSoftwareVersion?: string;
}

export interface ApiVersionRange {
  readonly apiKey: number;
  readonly minVersion: number;
  readonly maxVersion: number;
}

export interface ApiVersionsResponse {
  readonly errorCode: number;
  readonly apiKeys: readonly ApiVersionRange[];
  readonly throttleTimeMs: number;
}

export const apiVersions: ApiCodec<ApiVersionsRequest, ApiVersionsResponse> = {
  key: 18,
  name: 'ApiVersions',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: 3,
  decodeRequest(reader, version) {
    if (version < 3) return {};
    const request = {
      clientSoftwareName: reader.string('client_software_name'),
      clientSoftwareVersion: reader.string('client_software_version'),
    };
    reader.taggedFields();
    return request;
  },
  encodeResponse(writer, version, response) {
    writer.int16(response.errorCode);
    writer.array(response.apiKeys, (w, range) => {
      w.int16(range.apiKey).int16(range.minVersion).int16(range.maxVersion).taggedFields();
    });
    if (version >= 1) writer.int32(response.throttleTimeMs);
    writer.taggedFields();
  },
};
