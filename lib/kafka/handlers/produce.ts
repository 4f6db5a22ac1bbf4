/**
 * Produce, InitProducerId and DescribeProducers. A partition's batches are appended as the client sent them
 * (Log.appendBatches validates and stores them byte for byte). A partition's batches are *accepted*
 * (buffered) in the order the connection sent them; different partitions, in one request or in
 * pipelined ones, are accepted concurrently. The answer follows once every partition is committed.
 * With acks=0 Kafka sends no answer at all.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import { SpoolError } from '../../errors.js';
import { later, type ApiHandler, type Handled } from '../api.js';
import { codecs } from '../served.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import type {
  DescribeProducersRequest,
  DescribeProducersResponse,
  PartitionResponse as DescribedPartition,
} from '../protocol/messages/describe-producers.js';
import type { InitProducerIdRequest, InitProducerIdResponse } from '../protocol/messages/init-producer-id.js';
import type {
  BatchIndexAndErrorMessage,
  PartitionProduceData,
  PartitionProduceResponse,
  ProduceRequest,
  ProduceResponse,
} from '../protocol/messages/produce.js';
import type { Encodable } from '../protocol/runtime.js';
import { noResponse } from '../server.js';
import { permits, permitsTransactions, type BrokerDeps } from './deps.js';
import { partitionLeaders } from './metadata.js';
import { initTransactionalProducer } from './transactions.js';

/** Per connection: the acceptance of its last batch for each partition, and a bound on acceptances at once. */
const connections = new WeakMap<object, { readonly last: Map<string, Promise<unknown>>; readonly limit: LimitFunction }>();
/** Partitions one connection has being accepted at once (a first write to each takes its lease). */
const parallelAccepts = 32;

type PartitionAnswer = Encodable<PartitionProduceResponse> & { readonly index: number; readonly errorCode: number };
type TopicAnswer = { readonly name: string; readonly topicId: string; readonly partitionResponses: PartitionAnswer[] };

/**
 * Produce v3–13 (v0–2 are advertised for librdkafka's feature probe and refused: message sets v0/v1).
 * v13 names topics by id (an unknown id answers UNKNOWN_TOPIC_ID); v10+ answers NOT_LEADER_OR_FOLLOWER
 * with the partition's current leader and that broker's endpoint. v12 differs from v11 only in
 * transactional semantics (KIP-890), and transactions are refused.
 */
export function produceHandler({
  log,
  cluster,
  logger,
  metrics,
  transactions,
}: BrokerDeps): ApiHandler<ProduceRequest, Encodable<ProduceResponse>> {
  const failed = (
    index: number,
    errorCode: number,
    errorMessage: string | null,
    recordErrors: Encodable<BatchIndexAndErrorMessage>[] = [],
  ): PartitionAnswer => ({ index, errorCode, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, recordErrors, errorMessage });
  const failure = (index: number, error: unknown, version: number): PartitionAnswer => {
    const mapped = kafkaErrorFor(error);
    if (mapped.unexpected) logger.log('error', 'kafka produce failed', { message: error instanceof Error ? error.message : String(error) });
    return failed(index, produceErrorCode(mapped.code, version), mapped.unexpected ? null : mapped.message, recordErrorsOf(error));
  };
  /** v10+: NOT_LEADER_OR_FOLLOWER answers name the partition's current leader, and node_endpoints its address. */
  const withLeaders = async (topics: TopicAnswer[]): Promise<Encodable<ProduceResponse>> => {
    const leaderIds = new Set<number>();
    const answered = await Promise.all(
      topics.map(async (topic) => {
        if (!topic.partitionResponses.some((p) => p.errorCode === KafkaErrors.NOT_LEADER_OR_FOLLOWER)) return topic;
        const item = await log.topic(topic.name).catch(() => undefined);
        const leaders = item ? await partitionLeaders({ log, cluster }, item).catch(() => []) : [];
        const partitionResponses = topic.partitionResponses.map((p) => {
          const leader = leaders.find((l) => l.partitionIndex === p.index);
          if (p.errorCode !== KafkaErrors.NOT_LEADER_OR_FOLLOWER || leader === undefined) return p;
          leaderIds.add(leader.leaderId);
          return { ...p, currentLeader: { leaderId: leader.leaderId, leaderEpoch: leader.leaderEpoch } };
        });
        return { ...topic, partitionResponses };
      }),
    );
    const nodeEndpoints = leaderIds.size === 0 ? [] : (await cluster.brokers().catch(() => [])).filter((b) => leaderIds.has(b.nodeId));
    return { responses: answered, nodeEndpoints };
  };
  return {
    codec: codecs.produce,
    answersNothing: (request) => request.acks === 0,
    async handle(request, context): Promise<Handled<Encodable<ProduceResponse>>> {
      const { transactionalId } = request;
      if (transactionalId !== null && !permitsTransactions(context.principal))
        return codecs.produce.errorResponse(request, context.apiVersion, KafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
      // KIP-890: Produce v12+ adds its partition to the transaction (TV2); older versions must have added it (AddPartitionsToTxn).
      const transaction =
        transactionalId === null
          ? undefined
          : {
              transactionalId,
              verify: (topic: string, partition: number, producerId: number, epoch: number) =>
                transactions.verify(
                  transactionalId,
                  { producerId, epoch },
                  { topic, partition },
                  context.apiVersion >= 12 ? 'add' : 'check',
                ),
            };
      const acks = request.acks === 0 ? 0 : request.acks === 1 ? 1 : 'all';
      // v13+ names topics by id; an unknown id answers UNKNOWN_TOPIC_ID.
      const topicData = await Promise.all(
        request.topicData.map(async (topic) => ({
          ...topic,
          name: context.apiVersion >= 13 ? (await log.topicById(topic.topicId))?.name : topic.name,
        })),
      );
      // A partition's answer, once accepted: wrapped, since a promise returned by an async function is awaited with it.
      type Accepted = { readonly answer: Promise<PartitionAnswer> };
      const refused = (answer: PartitionAnswer): Accepted => ({ answer: Promise.resolve(answer) });
      const accept = async (topic: string, { index, records }: PartitionProduceData): Promise<Accepted> => {
        if (!permits(context.principal, 'write', topic))
          return refused(failed(index, KafkaErrors.TOPIC_AUTHORIZATION_FAILED, `not allowed to write to ${topic}`));
        if (records === null || records.length === 0)
          return refused(failed(index, KafkaErrors.CORRUPT_MESSAGE, 'expected record batches, got none'));
        try {
          const { done, records: count } = await log.appendBatches(topic, index, records, { acks, asLeader: true, transaction });
          if (count > 0) metrics.emit({ RecordsProduced: [count, 'Count'], BytesProduced: [records.length, 'Bytes'] }, {}, { topic });
          return {
            answer: done.then(
              ({ baseOffset, logAppendTimeMs }): PartitionAnswer => ({
                index,
                errorCode: KafkaErrors.NONE,
                baseOffset,
                logAppendTimeMs,
                logStartOffset: -1,
                recordErrors: [],
                errorMessage: null,
              }),
              (error: unknown) => failure(index, error, context.apiVersion),
            ),
          };
        } catch (error) {
          return refused(failure(index, error, context.apiVersion));
        }
      };
      // Each partition is accepted after the same partition of the connection's earlier requests (so
      // pipelined batches are buffered in the order sent) and concurrently with everything else: the
      // handler does not wait, so a connection's next request starts at once, and first writes to
      // many partitions take their leases many at once, whether they come in one request or several.
      let connection = connections.get(context.connection);
      if (!connection) connections.set(context.connection, (connection = { last: new Map(), limit: pLimit(parallelAccepts) }));
      const { last, limit } = connection;
      const answerOf = (topic: string | undefined, partition: PartitionProduceData): Promise<PartitionAnswer> => {
        if (topic === undefined) return Promise.resolve(failed(partition.index, KafkaErrors.UNKNOWN_TOPIC_ID, null));
        const key = `${topic}\u0000${partition.index}`;
        const accepting = (last.get(key) ?? Promise.resolve()).then(() => limit(() => accept(topic, partition)));
        last.set(key, accepting);
        void accepting.then(() => {
          if (last.get(key) === accepting) last.delete(key);
        });
        return accepting.then((done) => done.answer);
      };
      const pending = topicData.map((topic) => ({
        name: topic.name ?? '',
        topicId: topic.topicId,
        partitions: topic.partitionData.map((partition) => answerOf(topic.name, partition)),
      }));
      const response = Promise.all(
        pending.map(
          async (topic): Promise<TopicAnswer> => ({
            name: topic.name,
            topicId: topic.topicId,
            partitionResponses: await Promise.all(topic.partitions),
          }),
        ),
      );
      if (acks === 0) {
        // The client reads no answer; failures are only logged (by then the engine counted them).
        return later(response.then(() => noResponse as unknown as Encodable<ProduceResponse>));
      }
      return later(response.then((answered) => (context.apiVersion >= 10 ? withLeaders(answered) : { responses: answered })));
    },
  };
}

/**
 * InitProducerId for idempotent producers. As Kafka does without a transactional id, every request gets
 * a fresh producer id at epoch 0 — including a v3+ epoch bump (KIP-360), whose producer id and epoch
 * must then be both set or both -1 (INVALID_REQUEST otherwise). Transactional ids are refused.
 */
export function initProducerIdHandler({
  log,
  transactions,
}: BrokerDeps): ApiHandler<InitProducerIdRequest, Encodable<InitProducerIdResponse>> {
  const { errorResponse } = codecs.initProducerId;
  return {
    codec: codecs.initProducerId,
    async handle(request, { apiVersion, principal }) {
      const { transactionalId } = request;
      if (transactionalId !== null) {
        if (!permitsTransactions(principal)) return errorResponse(request, apiVersion, KafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
        // Kafka answers an empty transactional id INVALID_REQUEST.
        if (transactionalId === '') return errorResponse(request, apiVersion, KafkaErrors.INVALID_REQUEST);
        return initTransactionalProducer(transactions, { ...request, transactionalId }, apiVersion);
      }
      if ((request.producerId === -1) !== (request.producerEpoch === -1))
        return errorResponse(request, apiVersion, KafkaErrors.INVALID_REQUEST);
      const producerId = await log.allocateProducerId().catch((error: unknown) => {
        throw error instanceof SpoolError
          ? error
          : new SpoolError('STORAGE_UNAVAILABLE', 'could not allocate a producer id', { cause: error });
      });
      return { errorCode: KafkaErrors.NONE, producerId, producerEpoch: 0 };
    },
  };
}

/**
 * A transaction check's failure as Produce says it (Kafka's partition leader does the same): a
 * fenced producer is INVALID_PRODUCER_EPOCH; a transaction being ended is NOT_ENOUGH_REPLICAS (the
 * client retries); TRANSACTION_ABORTABLE is INVALID_TXN_STATE before v11 (KIP-890).
 */
function produceErrorCode(code: number, version: number): number {
  if (code === KafkaErrors.PRODUCER_FENCED) return KafkaErrors.INVALID_PRODUCER_EPOCH;
  if (code === KafkaErrors.CONCURRENT_TRANSACTIONS) return KafkaErrors.NOT_ENOUGH_REPLICAS;
  if (code === KafkaErrors.TRANSACTION_ABORTABLE && version < 11) return KafkaErrors.INVALID_TXN_STATE;
  return code;
}

/** A validation failure's failing records (format/log-validator.ts), as Produce v8+ reports them. */
function recordErrorsOf(error: unknown): Encodable<BatchIndexAndErrorMessage>[] {
  const errors = error instanceof SpoolError ? error.details.record_errors : undefined;
  if (!Array.isArray(errors)) return [];
  return errors.map((entry: { batch_index: number; message: string }) => ({
    batchIndex: entry.batch_index,
    batchIndexErrorMessage: entry.message,
  }));
}

/**
 * DescribeProducers v0: a partition's idempotent and transactional producers, as the store holds them
 * (lib/log/idempotence.ts), with their open transaction's first offset. last_timestamp is the time of
 * the producer's last commit; the coordinator epoch is its last marker's (0, Spool's coordinator has no
 * epochs), -1 before any. Needs read permission on the topic, as Kafka's topic READ.
 */
export function describeProducersHandler({ log }: BrokerDeps): ApiHandler<DescribeProducersRequest, Encodable<DescribeProducersResponse>> {
  const answer = (request: DescribeProducersRequest, partition: (topic: string, index: number) => Promise<Encodable<DescribedPartition>>) =>
    Promise.all(
      request.topics.map(async (topic) => ({
        name: topic.name,
        partitions: await Promise.all(topic.partitionIndexes.map((index) => partition(topic.name, index))),
      })),
    );
  const failed = (partitionIndex: number, errorCode: number, errorMessage: string | null = null): Encodable<DescribedPartition> => ({
    partitionIndex,
    errorCode,
    errorMessage,
    activeProducers: [],
  });
  return {
    codec: codecs.describeProducers,
    async handle(request, context) {
      const topics = await answer(request, async (topic, index) => {
        if (!permits(context.principal, 'read', topic))
          return failed(index, KafkaErrors.TOPIC_AUTHORIZATION_FAILED, `not allowed to read ${topic}`);
        try {
          const producers = await log.producers(topic, index);
          return {
            partitionIndex: index,
            errorCode: KafkaErrors.NONE,
            activeProducers: producers.map(({ lastWriteMs, ...p }) => ({ ...p, lastTimestamp: lastWriteMs })),
          };
        } catch (error) {
          const mapped = kafkaErrorFor(error);
          return failed(index, mapped.code, mapped.unexpected ? null : mapped.message);
        }
      });
      return { topics };
    },
  };
}
