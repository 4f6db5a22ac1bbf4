/**
 * DescribeConfigs (key 32), versions 0–2 (none flexible).
 *
 *   DescribeConfigs Request => [resources] include_synonyms:BOOLEAN (v1+)
 *     resources => resource_type:INT8 resource_name:STRING [configuration_keys:STRING] (nullable: all)
 *                  resource_type: 2 topic, 4 broker
 *
 *   DescribeConfigs Response => throttle_time_ms:INT32 [results]
 *     results => error_code:INT16 error_message:NULLABLE_STRING resource_type:INT8 resource_name:STRING [configs]
 *       configs => name:STRING value:NULLABLE_STRING read_only:BOOLEAN is_default:BOOLEAN (v0)
 *                  config_source:INT8 (v1+) is_sensitive:BOOLEAN [synonyms] (v1+)
 *         synonyms => name:STRING value:NULLABLE_STRING source:INT8
 *         config_source: 1 topic config, 4 static broker config, 5 default
 */
import type { ApiCodec } from '../api.js';

export const RESOURCE_TOPIC = 2;
export const RESOURCE_BROKER = 4;
export const SOURCE_TOPIC = 1;
export const SOURCE_DEFAULT = 5;

export interface DescribeConfigsRequest {
  readonly resources: readonly { readonly resourceType: number; readonly resourceName: string; readonly keys: readonly string[] | null }[];
}

export interface ConfigEntry {
  readonly name: string;
  readonly value: string | null;
  readonly readOnly: boolean;
  readonly source: number;
}

export interface DescribeConfigsResult {
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly resourceType: number;
  readonly resourceName: string;
  readonly configs: readonly ConfigEntry[];
}

export interface DescribeConfigsResponse {
  readonly results: readonly DescribeConfigsResult[];
}

export const describeConfigs: ApiCodec<DescribeConfigsRequest, DescribeConfigsResponse> = {
  key: 32,
  name: 'DescribeConfigs',
  minVersion: 0,
  maxVersion: 2,
  decodeRequest(reader, version) {
    const resources = reader.array('resources', (r) => ({
      resourceType: r.int8('resource_type'),
      resourceName: r.string('resource_name'),
      keys: r.nullableArray('configuration_keys', (k) => k.string('configuration key')),
    }));
    if (version >= 1) reader.bool('include_synonyms');
    return { resources };
  },
  encodeResponse(writer, version, response) {
    writer.int32(0);
    writer.array(response.results, (w, result) => {
      w.int16(result.errorCode).nullableString(result.errorMessage).int8(result.resourceType).string(result.resourceName);
      w.array(result.configs, (cw, config) => {
        cw.string(config.name).nullableString(config.value).bool(config.readOnly);
        if (version === 0) cw.bool(config.source === SOURCE_DEFAULT);
        else cw.int8(config.source);
        cw.bool(false);
        if (version >= 1) cw.array([], () => {});
      });
    });
  },
};
