/**
 * Produce and InitProducerId. A partition's batches are appended as the client sent them
 * (Log.appendBatches validates and stores them byte for byte). A partition's batches are *accepted*
 * (buffered) in the order the connection sent them; different partitions, in one request or in
 * pipelined ones, are accepted concurrently. The answer follows once every partition is committed.
 * With acks=0 Kafka sends no answer at all.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import { SpoolError } from '../../errors.js';
import { later, type ApiHandler, type Handled } from '../api.js';
import { codecs } from '../served.js';
import type { InitProducerIdRequest, InitProducerIdResponse } from '../apis/init-producer-id.js';
import type { ProducePartitionResponse, ProduceRequest, ProduceResponse } from '../apis/produce.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import { noResponse } from '../server.js';
import { permits, type BrokerDeps } from './deps.js';

/** Per connection: the acceptance of its last batch for each partition, and a bound on acceptances at once. */
const connections = new WeakMap<object, { readonly last: Map<string, Promise<unknown>>; readonly limit: LimitFunction }>();
/** Partitions one connection has being accepted at once (a first write to each takes its lease). */
const parallelAccepts = 32;

export function produceHandler({ log, logger, metrics }: BrokerDeps): ApiHandler<ProduceRequest, ProduceResponse> {
  const failed = (
    index: number,
    errorCode: number,
    errorMessage: string | null,
    recordErrors: ProducePartitionResponse['recordErrors'] = [],
  ): ProducePartitionResponse => ({
    index,
    errorCode,
    baseOffset: -1,
    logAppendTimeMs: -1,
    logStartOffset: -1,
    recordErrors,
    errorMessage,
  });
  const refuse = (request: ProduceRequest, errorCode: number): ProduceResponse => ({
    topics: request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((p) => failed(p.index, errorCode, null)),
    })),
  });
  const failure = (index: number, error: unknown): ProducePartitionResponse => {
    const mapped = kafkaErrorFor(error);
    if (mapped.unexpected) logger.log('error', 'kafka produce failed', { message: error instanceof Error ? error.message : String(error) });
    return failed(index, mapped.code, mapped.unexpected ? null : mapped.message, recordErrorsOf(error));
  };
  return {
    codec: codecs.produce,
    handledFrom: 3,
    refuse,
    async handle(request, context): Promise<Handled<ProduceResponse>> {
      if (request.transactionalId !== null) return refuse(request, KafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
      const acks = request.acks === 0 ? 0 : request.acks === 1 ? 1 : 'all';
      // A partition's answer, once accepted: wrapped, since a promise returned by an async function is awaited with it.
      type Accepted = { readonly answer: Promise<ProducePartitionResponse> };
      const refused = (answer: ProducePartitionResponse): Accepted => ({ answer: Promise.resolve(answer) });
      const accept = async (
        topic: string,
        { index, records }: ProduceRequest['topics'][number]['partitions'][number],
      ): Promise<Accepted> => {
        if (!permits(context.principal, 'write', topic))
          return refused(failed(index, KafkaErrors.TOPIC_AUTHORIZATION_FAILED, `not allowed to write to ${topic}`));
        if (records === null || records.length === 0)
          return refused(failed(index, KafkaErrors.CORRUPT_MESSAGE, 'expected record batches, got none'));
        try {
          const { done, records: count } = await log.appendBatches(topic, index, records, { acks, asLeader: true });
          if (count > 0) metrics.emit({ RecordsProduced: [count, 'Count'], BytesProduced: [records.length, 'Bytes'] }, {}, { topic });
          return {
            answer: done.then(
              ({ baseOffset, logAppendTimeMs }) => ({
                index,
                errorCode: KafkaErrors.NONE,
                baseOffset,
                logAppendTimeMs,
                logStartOffset: -1,
                recordErrors: [],
                errorMessage: null,
              }),
              (error: unknown) => failure(index, error),
            ),
          };
        } catch (error) {
          return refused(failure(index, error));
        }
      };
      // Each partition is accepted after the same partition of the connection's earlier requests (so
      // pipelined batches are buffered in the order sent) and concurrently with everything else: the
      // handler does not wait, so a connection's next request starts at once, and first writes to
      // many partitions take their leases many at once, whether they come in one request or several.
      let connection = connections.get(context.connection);
      if (!connection) connections.set(context.connection, (connection = { last: new Map(), limit: pLimit(parallelAccepts) }));
      const { last, limit } = connection;
      const accepted = request.topics.flatMap((topic) =>
        topic.partitions.map((partition) => {
          const key = `${topic.name}\u0000${partition.index}`;
          const accepting = (last.get(key) ?? Promise.resolve()).then(() => limit(() => accept(topic.name, partition)));
          last.set(key, accepting);
          void accepting.then(() => {
            if (last.get(key) === accepting) last.delete(key);
          });
          return { answer: accepting.then((done) => done.answer) };
        }),
      );
      let next = 0;
      const topics = request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map(() => accepted[next++]!.answer),
      }));
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
    codec: codecs.initProducerId,
    refuse: (_request, errorCode) => ({ errorCode, producerId: -1, producerEpoch: -1 }),
    async handle(request) {
      if (request.transactionalId !== null) {
        // Transactions are not supported; an idempotent producer sends no transactional id.
        return { errorCode: KafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 };
      }
      const producerId = await log.allocateProducerId().catch((error: unknown) => {
        throw error instanceof SpoolError
          ? error
          : new SpoolError('STORAGE_UNAVAILABLE', 'could not allocate a producer id', { cause: error });
      });
      return { errorCode: KafkaErrors.NONE, producerId, producerEpoch: 0 };
    },
  };
}

/** A validation failure's failing records (format/log-validator.ts), as Produce v8+ reports them. */
function recordErrorsOf(error: unknown): ProducePartitionResponse['recordErrors'] {
  const errors = error instanceof SpoolError ? error.details.record_errors : undefined;
  if (!Array.isArray(errors)) return [];
  return errors.map((entry: { batch_index: number; message: string }) => ({ batchIndex: entry.batch_index, message: entry.message }));
}
