/**
 * Fetch and ListOffsets. Fetch answers stored batches with their base offsets patched (no
 * re-encoding); the first batch may begin before the offset asked for, as in Kafka, and clients skip
 * the records before it. With nothing to answer yet, Fetch waits up to max_wait_ms for a commit on
 * any of the partitions asked for. Any agent serves reads: the store is the truth, not the leader.
 * Partitions are read concurrently (a fetch over many partitions costs a few round trips, not one
 * per partition), and the answer keeps Kafka's byte budget in request order.
 *
 * From Fetch v13 topics are named by id (the ids Metadata v10+ gives); an id no live topic has is
 * UNKNOWN_TOPIC_ID, which sends the client to refresh its metadata. Spool keeps no fetch sessions:
 * it answers session_id 0, and clients then send full fetches.
 *
 * isolation_level 1 (read_committed) reads below the last stable offset only and answers the
 * aborted transactions the batches returned may hold (lib/log/reader.ts); isolation 0 answers them
 * null, as Kafka does (a list there makes some clients drop records). Both answer the last stable
 * offset. ListOffsets LATEST under read_committed is the last stable offset.
 */
import pMap from 'p-map';
import { SpoolError } from '../../errors.js';
import type { OffsetQuery, TimestampedOffset } from '../../log/index.js';
import { later, type ApiHandler, type Handled, type RequestContext } from '../api.js';
import { codecs } from '../served.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import type { FetchRequest, FetchResponse } from '../protocol/messages/fetch.js';
import type { ListOffsetsRequest, ListOffsetsResponse } from '../protocol/messages/list-offsets.js';
import type { Encodable } from '../protocol/runtime.js';
import { permits, type BrokerDeps } from './deps.js';

/** Longest wait a client may ask of a fetch. */
const maxWaitCapMs = 30_000;
/** Partitions one fetch reads at once. */
const parallelPartitionReads = 16;

/** One partition's answer, before it is put in the version's shape. */
interface PartitionAnswer {
  readonly partitionIndex: number;
  readonly errorCode: number;
  readonly highWatermark: number;
  readonly lastStableOffset: number;
  readonly logStartOffset: number;
  readonly abortedTransactions: readonly { readonly producerId: number; readonly firstOffset: number }[] | null;
  readonly records: readonly Buffer[];
}

/** A topic of the request, by name (to v12) or by id (v13+); `name` is undefined for an id no live topic has. */
interface RequestedTopic {
  readonly name: string | undefined;
  readonly id: string;
  readonly partitions: FetchRequest['topics'][number]['partitions'];
}

export function fetchHandler({ log, metrics }: BrokerDeps): ApiHandler<FetchRequest, Encodable<FetchResponse>> {
  const answer = (topics: readonly RequestedTopic[], answers: readonly PartitionAnswer[]): Encodable<FetchResponse> => {
    let next = 0;
    return {
      errorCode: KafkaErrors.NONE,
      sessionId: 0,
      responses: topics.map((topic) => ({
        topic: topic.name ?? '',
        topicId: topic.id,
        partitions: topic.partitions.map(() => {
          const { records, ...partition } = answers[next++]!;
          return { ...partition, records };
        }),
      })),
    };
  };
  const failed = (partitionIndex: number, errorCode: number): PartitionAnswer => ({
    partitionIndex,
    errorCode,
    highWatermark: -1,
    lastStableOffset: -1,
    logStartOffset: -1,
    abortedTransactions: null,
    records: [],
  });

  /** The request's topics with their names: v13+ names them by id. */
  const resolve = async (request: FetchRequest, version: number): Promise<RequestedTopic[]> =>
    Promise.all(
      request.topics.map(async (topic) => {
        if (version < 13) return { name: topic.topic, id: topic.topicId, partitions: topic.partitions };
        return { name: (await log.topicById(topic.topicId))?.name, id: topic.topicId, partitions: topic.partitions };
      }),
    );

  /**
   * One pass over every partition asked for. Partitions are read concurrently; the byte budget goes
   * to them in request order, as in Kafka: the first batch found is answered whatever its size,
   * later batches only within the request's max_bytes. A partition not yet started when the budget
   * is spent reads only its high watermark. `longPoll`: the request waits when this pass finds too
   * little, so a partition state up to one watch interval old may answer (lib/log/reader.ts).
   */
  const readAll = async (
    request: FetchRequest,
    topics: readonly RequestedTopic[],
    context: RequestContext,
    longPoll = false,
  ): Promise<{ answers: PartitionAnswer[]; bytes: number }> => {
    const budget = request.maxBytes > 0 ? request.maxBytes : 0x7fffffff;
    const isolation = request.isolationLevel === 1 ? 'read_committed' : 'read_uncommitted';
    const noAborted = isolation === 'read_committed' ? [] : null;
    let bytesRead = 0;
    const wanted = topics.flatMap((topic) => topic.partitions.map((partition) => ({ topic: topic.name, ...partition })));
    const read = async ({ topic, partition, fetchOffset, partitionMaxBytes }: (typeof wanted)[number]): Promise<PartitionAnswer> => {
      if (topic === undefined) return failed(partition, KafkaErrors.UNKNOWN_TOPIC_ID);
      if (!permits(context.principal, 'read', topic)) return failed(partition, KafkaErrors.TOPIC_AUTHORIZATION_FAILED);
      try {
        if (bytesRead >= budget) {
          const range = await log.offsetRange(topic, partition);
          return {
            partitionIndex: partition,
            errorCode: KafkaErrors.NONE,
            highWatermark: range.latest,
            lastStableOffset: range.lastStable,
            logStartOffset: range.earliest,
            abortedTransactions: noAborted,
            records: [],
          };
        }
        const result = await log.readBatches(topic, partition, fetchOffset, {
          maxBytes: Math.min(partitionMaxBytes, budget - bytesRead),
          longPoll,
          signal: context.signal,
          isolation,
        });
        for (const batch of result.batches) bytesRead += batch.length;
        return {
          partitionIndex: partition,
          errorCode: KafkaErrors.NONE,
          highWatermark: result.highWatermark,
          lastStableOffset: result.lastStableOffset,
          logStartOffset: result.logStartOffset,
          abortedTransactions: result.abortedTransactions ?? noAborted,
          records: result.batches,
        };
      } catch (error) {
        const range =
          error instanceof SpoolError && error.code === 'OFFSET_OUT_OF_RANGE'
            ? await log.offsetRange(topic, partition).catch(() => undefined)
            : undefined;
        return {
          partitionIndex: partition,
          errorCode: kafkaErrorFor(error).code,
          highWatermark: range?.latest ?? -1,
          lastStableOffset: range?.lastStable ?? -1,
          logStartOffset: range?.earliest ?? -1,
          abortedTransactions: null,
          records: [],
        };
      }
    };
    const answers = await pMap(wanted, read, { concurrency: parallelPartitionReads });
    // The budget, in request order: reads that finished together may hold more than it allows.
    let bytes = 0;
    answers.forEach((answer, index) => {
      const kept: Buffer[] = [];
      for (const batch of answer.records) {
        if (bytes > 0 && bytes + batch.length > budget) break;
        kept.push(batch);
        bytes += batch.length;
      }
      // Aborted transactions that begin after the batches kept are not the client's concern yet.
      const end = kept.length === 0 ? -1 : lastOffsetOf(kept.at(-1)!) + 1;
      const abortedTransactions = answer.abortedTransactions?.filter((txn) => txn.firstOffset < end) ?? null;
      answers[index] = { ...answer, abortedTransactions, records: kept };
      if (kept.length > 0)
        metrics.emit(
          { RecordsFetched: [recordsIn(kept), 'Count'] },
          {},
          { topic: wanted[index]!.topic!, partition: answer.partitionIndex },
        );
    });
    return { answers, bytes };
  };

  return {
    // Versions below 4 cannot carry RecordBatch v2: the server answers them UNSUPPORTED_VERSION per partition (advertised from 0 for librdkafka's feature probe).
    codec: codecs.fetch,
    async handle(request, context): Promise<Handled<Encodable<FetchResponse>>> {
      const topics = await resolve(request, context.apiVersion);
      const waitMs = Math.min(Math.max(request.maxWaitMs, 0), maxWaitCapMs);
      const first = await readAll(request, topics, context, waitMs > 0);
      const anyError = first.answers.some((p) => p.errorCode !== KafkaErrors.NONE);
      if (first.bytes >= Math.max(request.minBytes, 1) || waitMs === 0 || anyError) return answer(topics, first.answers);
      // Nothing yet: wait for news of any partition asked for (a commit here, or the log's watch), then read again.
      return later(
        (async () => {
          // Past what the first pass saw: a partition with too few bytes for min_bytes waits for more.
          let next = 0;
          const targets = topics.flatMap((topic) =>
            topic.partitions.map((p) => ({
              topic: topic.name!,
              partition: p.partition,
              offset: Math.max(p.fetchOffset, first.answers[next++]!.highWatermark),
            })),
          );
          // No news in the whole wait: the first pass is still the answer (a high watermark it shows
          // is at most one watch interval old), and idle consumers cost one pass per fetch, not two.
          if (!(await log.waitForRecords(targets, waitMs, context.signal))) return answer(topics, first.answers);
          return answer(topics, (await readAll(request, topics, context)).answers);
        })(),
      );
    },
  };
}

/**
 * ListOffsets' special timestamps (ListOffsetsRequest constants in Kafka) and the first version that
 * may ask for each; an older version asking is answered UNSUPPORTED_VERSION, as Kafka does. Without
 * tiered storage, the local log is the whole log and nothing is in, or pending upload to, a remote
 * tier: Kafka then answers -4 as -2, and -5 and -6 as offset -1.
 */
const specialTimestamps = new Map<number, { readonly name: string; readonly sinceVersion: number; readonly query: OffsetQuery | 'none' }>([
  [-1, { name: 'LATEST', sinceVersion: 0, query: 'latest' }],
  [-2, { name: 'EARLIEST', sinceVersion: 0, query: 'earliest' }],
  [-3, { name: 'MAX_TIMESTAMP', sinceVersion: 7, query: 'max-timestamp' }],
  [-4, { name: 'EARLIEST_LOCAL', sinceVersion: 8, query: 'earliest' }],
  [-5, { name: 'LATEST_TIERED', sinceVersion: 9, query: 'none' }],
  [-6, { name: 'EARLIEST_PENDING_UPLOAD', sinceVersion: 11, query: 'none' }],
]);

export function listOffsetsHandler({ log }: BrokerDeps): ApiHandler<ListOffsetsRequest, Encodable<ListOffsetsResponse>> {
  const answer = (partitionIndex: number, errorCode: number, found?: TimestampedOffset) => {
    const offset = found?.offset ?? -1;
    // v0 answers a list of at most one offset; v1+ the offset and the timestamp of the record found.
    return {
      partitionIndex,
      errorCode,
      timestamp: found?.timestampMs ?? -1,
      offset,
      oldStyleOffsets: offset >= 0 ? [offset] : [],
      leaderEpoch: -1,
    };
  };
  return {
    codec: codecs.listOffsets,
    async handle(request, context) {
      const named = new Map<string, number>();
      for (const topic of request.topics)
        for (const { partitionIndex } of topic.partitions)
          named.set(`${topic.name}\u0000${partitionIndex}`, (named.get(`${topic.name}\u0000${partitionIndex}`) ?? 0) + 1);
      const lookup = async (topic: string, partitionIndex: number, timestamp: number) => {
        if (!permits(context.principal, 'read', topic)) return answer(partitionIndex, KafkaErrors.TOPIC_AUTHORIZATION_FAILED);
        // Kafka answers a partition named twice INVALID_REQUEST, both times.
        if (named.get(`${topic}\u0000${partitionIndex}`)! > 1) return answer(partitionIndex, KafkaErrors.INVALID_REQUEST);
        const special = specialTimestamps.get(timestamp);
        if (timestamp < 0 && (special === undefined || context.apiVersion < special.sinceVersion))
          return answer(partitionIndex, KafkaErrors.UNSUPPORTED_VERSION);
        try {
          if (special?.query === 'none') {
            await log.offsetRange(topic, partitionIndex); // the partition must exist
            return answer(partitionIndex, KafkaErrors.NONE);
          }
          // LATEST under read_committed (v2+) is the last stable offset.
          const query =
            special?.query === 'latest' && request.isolationLevel === 1 ? 'last-stable' : (special?.query ?? { timestampMs: timestamp });
          return answer(partitionIndex, KafkaErrors.NONE, await log.listOffset(topic, partitionIndex, query));
        } catch (error) {
          return answer(partitionIndex, kafkaErrorFor(error).code);
        }
      };
      const topics = await Promise.all(
        request.topics.map(async (topic) => ({
          name: topic.name,
          partitions: await Promise.all(
            topic.partitions.map(({ partitionIndex, timestamp }) => lookup(topic.name, partitionIndex, timestamp)),
          ),
        })),
      );
      return { topics };
    },
  };
}

/** A whole batch's last offset, from its header (baseOffset at byte 0, lastOffsetDelta at 23). */
function lastOffsetOf(batch: Buffer): number {
  return Number(batch.readBigInt64BE(0)) + batch.readInt32BE(23);
}

/** Records in whole batches, from their headers (recordCount is the int32 at byte 57). */
function recordsIn(batches: readonly Buffer[]): number {
  return batches.reduce((sum, batch) => sum + (batch.length >= 61 ? batch.readInt32BE(57) : 0), 0);
}
