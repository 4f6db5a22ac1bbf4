/**
 * Produce and InitProducerId. A partition's batches are appended as the client sent them
 * (Log.appendBatches validates and stores them byte for byte). Each partition is *accepted* before
 * the handler returns, in request order; the answer follows once every partition is committed.
 * With acks=0 Kafka sends no answer at all.
 */
import { SpoolError } from '../../errors.js';
import { later, type ApiHandler, type Handled } from '../api.js';
import { initProducerId, type InitProducerIdRequest, type InitProducerIdResponse } from '../apis/init-producer-id.js';
import { produce, type ProducePartitionResponse, type ProduceRequest, type ProduceResponse } from '../apis/produce.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import { noResponse } from '../server.js';
import { permits, type BrokerDeps } from './deps.js';

export function produceHandler({ log, logger, metrics }: BrokerDeps): ApiHandler<ProduceRequest, ProduceResponse> {
  const failed = (index: number, errorCode: number, errorMessage: string | null): ProducePartitionResponse => ({ index, errorCode, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, errorMessage });
  const refuse = (request: ProduceRequest, errorCode: number): ProduceResponse => ({
    topics: request.topics.map((topic) => ({ name: topic.name, partitions: topic.partitions.map((p) => failed(p.index, errorCode, null)) })),
  });
  const failure = (index: number, error: unknown): ProducePartitionResponse => {
    const mapped = kafkaErrorFor(error);
    if (mapped.unexpected) logger.log('error', 'kafka produce failed', { message: error instanceof Error ? error.message : String(error) });
    return failed(index, mapped.code, mapped.unexpected ? null : mapped.message);
  };
  return {
    codec: produce,
    handledFrom: 3,
    refuse,
    async handle(request, context): Promise<Handled<ProduceResponse>> {
      if (request.transactionalId !== null) return refuse(request, KafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
      const acks = request.acks === 0 ? 0 : request.acks === 1 ? 1 : 'all';
      const topics: { name: string; partitions: Promise<ProducePartitionResponse>[] }[] = [];
      for (const topicData of request.topics) {
        const partitions: Promise<ProducePartitionResponse>[] = [];
        topics.push({ name: topicData.name, partitions });
        for (const { index, records } of topicData.partitions) {
          if (!permits(context.principal, 'write', topicData.name)) {
            partitions.push(Promise.resolve(failed(index, KafkaErrors.TOPIC_AUTHORIZATION_FAILED, `not allowed to write to ${topicData.name}`)));
            continue;
          }
          if (records === null || records.length === 0) {
            partitions.push(Promise.resolve(failed(index, KafkaErrors.CORRUPT_MESSAGE, 'expected record batches, got none')));
            continue;
          }
          try {
            const { done, records: count } = await log.appendBatches(topicData.name, index, records, { acks, asLeader: true });
            if (count > 0) metrics.emit({ RecordsProduced: [count, 'Count'], BytesProduced: [records.length, 'Bytes'] }, {}, { topic: topicData.name });
            partitions.push(
              done.then(
                ({ baseOffset }) => ({ index, errorCode: KafkaErrors.NONE, baseOffset, logAppendTimeMs: -1, logStartOffset: -1, errorMessage: null }),
                (error: unknown) => failure(index, error),
              ),
            );
          } catch (error) {
            partitions.push(Promise.resolve(failure(index, error)));
          }
        }
      }
      const response = Promise.all(topics.map(async (topic) => ({ name: topic.name, partitions: await Promise.all(topic.partitions) })));
      if (acks === 0) {
        // The client reads no answer; failures are only logged (by then the engine counted them).
        return later(response.then(() => noResponse as unknown as ProduceResponse));
      }
      return later(response.then((answered) => ({ topics: answered })));
    },
  };
}

export function initProducerIdHandler({ log }: BrokerDeps): ApiHandler<InitProducerIdRequest, InitProducerIdResponse> {
  return {
    codec: initProducerId,
    refuse: (_request, errorCode) => ({ errorCode, producerId: -1, producerEpoch: -1 }),
    async handle(request) {
      if (request.transactionalId !== null) {
        // Transactions are not supported; an idempotent producer sends no transactional id.
        return { errorCode: KafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 };
      }
      const producerId = await log.producerIds.allocate().catch((error: unknown) => {
        throw error instanceof SpoolError ? error : new SpoolError('STORAGE_UNAVAILABLE', 'could not allocate a producer id', { cause: error });
      });
      return { errorCode: KafkaErrors.NONE, producerId, producerEpoch: 0 };
    },
  };
}
