/**
 * InitProducerId (key 22), versions 0–1 (none flexible).
 *
 *   InitProducerId Request => transactional_id:NULLABLE_STRING transaction_timeout_ms:INT32
 *   InitProducerId Response => throttle_time_ms:INT32 error_code:INT16 producer_id:INT64 producer_epoch:INT16
 */
import type { ApiCodec } from '../api.js';

export interface InitProducerIdRequest {
  readonly transactionalId: string | null;
  readonly transactionTimeoutMs: number;
}

export interface InitProducerIdResponse {
  readonly errorCode: number;
  readonly producerId: number;
  readonly producerEpoch: number;
}

export const initProducerId: ApiCodec<InitProducerIdRequest, InitProducerIdResponse> = {
  key: 22,
  name: 'InitProducerId',
  minVersion: 0,
  maxVersion: 1,
  decodeRequest(reader) {
    return { transactionalId: reader.nullableString('transactional_id'), transactionTimeoutMs: reader.int32('transaction_timeout_ms') };
  },
  encodeResponse(writer, _version, response) {
    writer.int32(0).int16(response.errorCode).int64(response.producerId).int16(response.producerEpoch);
  },
};
