/**
 * Fetch and ListOffsets. Fetch answers stored batches with their base offsets patched (no
 * re-encoding); the first batch may begin before the offset asked for, as in Kafka, and clients skip
 * the records before it. With nothing to answer yet, Fetch waits up to max_wait_ms for a commit on
 * any of the partitions asked for. Any agent serves reads: the store is the truth, not the leader.
 * Partitions are read concurrently (a fetch over many partitions costs a few round trips, not one
 * per partition), and the answer keeps Kafka's byte budget in request order.
 */
import pMap from 'p-map';
import { SpoolError } from '../../errors.js';
import type { ApiHandler, Handled, RequestContext } from '../api.js';
import { fetch, type FetchPartitionResponse, type FetchRequest, type FetchResponse } from '../apis/fetch.js';
import { listOffsets, type ListOffsetsRequest, type ListOffsetsResponse } from '../apis/list-offsets.js';
import type { OffsetQuery, TimestampedOffset } from '../../log/index.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import { later } from '../api.js';
import { permits, type BrokerDeps } from './deps.js';

/** Longest wait a client may ask of a fetch. */
const maxWaitCapMs = 30_000;
/** Partitions one fetch reads at once. */
const parallelPartitionReads = 16;

export function fetchHandler({ log, metrics }: BrokerDeps): ApiHandler<FetchRequest, FetchResponse> {
  const refuse = (request: FetchRequest, errorCode: number): FetchResponse => ({
    errorCode: KafkaErrors.NONE,
    responses: request.topics.map((topic) => ({
      topic: topic.topic,
      partitions: topic.partitions.map((p) => ({ partitionIndex: p.partition, errorCode, highWatermark: -1, logStartOffset: -1, records: [] })),
    })),
  });

  /**
   * One pass over every partition asked for. Partitions are read concurrently; the byte budget goes
   * to them in request order, as in Kafka: the first batch found is answered whatever its size,
   * later batches only within the request's max_bytes. A partition not yet started when the budget
   * is spent reads only its high watermark.
   */
  const readAll = async (request: FetchRequest, context: RequestContext): Promise<{ response: FetchResponse; bytes: number }> => {
    const budget = request.maxBytes > 0 ? request.maxBytes : 0x7fffffff;
    let bytesRead = 0;
    const wanted = request.topics.flatMap((topic) => topic.partitions.map((partition) => ({ topic: topic.topic, ...partition })));
    const read = async ({ topic, partition, fetchOffset, partitionMaxBytes }: (typeof wanted)[number]): Promise<FetchPartitionResponse> => {
      const base = { partitionIndex: partition, records: [] as Buffer[] };
      if (!permits(context.principal, 'read', topic)) return { ...base, errorCode: KafkaErrors.TOPIC_AUTHORIZATION_FAILED, highWatermark: -1, logStartOffset: -1 };
      try {
        if (bytesRead >= budget) {
          const range = await log.offsetRange(topic, partition);
          return { ...base, errorCode: KafkaErrors.NONE, highWatermark: range.latest, logStartOffset: range.earliest };
        }
        const result = await log.readBatches(topic, partition, fetchOffset, { maxBytes: Math.min(partitionMaxBytes, budget - bytesRead), signal: context.signal });
        for (const batch of result.batches) bytesRead += batch.length;
        return { ...base, errorCode: KafkaErrors.NONE, highWatermark: result.highWatermark, logStartOffset: result.logStartOffset, records: result.batches };
      } catch (error) {
        const range = error instanceof SpoolError && error.code === 'OFFSET_OUT_OF_RANGE' ? await log.offsetRange(topic, partition).catch(() => undefined) : undefined;
        return { ...base, errorCode: kafkaErrorFor(error).code, highWatermark: range?.latest ?? -1, logStartOffset: range?.earliest ?? -1 };
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
      answers[index] = { ...answer, records: kept };
      if (kept.length > 0) metrics.emit({ RecordsFetched: [recordsIn(kept), 'Count'] }, {}, { topic: wanted[index]!.topic, partition: answer.partitionIndex });
    });
    let next = 0;
    const responses = request.topics.map((topic) => ({ topic: topic.topic, partitions: topic.partitions.map(() => answers[next++]!) }));
    return { response: { errorCode: KafkaErrors.NONE, responses }, bytes };
  };

  return {
    codec: fetch,
    handledFrom: 4,
    refuse,
    async handle(request, context): Promise<Handled<FetchResponse>> {
      const first = await readAll(request, context);
      const waitMs = Math.min(Math.max(request.maxWaitMs, 0), maxWaitCapMs);
      const anyError = first.response.responses.some((topic) => topic.partitions.some((p) => p.errorCode !== KafkaErrors.NONE));
      if (first.bytes >= Math.max(request.minBytes, 1) || waitMs === 0 || anyError) return first.response;
      // Nothing yet: wait for news of any partition asked for (a commit here, or the log's watch), then read again.
      return later(
        (async () => {
          // Past what the first pass saw: a partition with too few bytes for min_bytes waits for more.
          const targets = request.topics.flatMap((topic, t) =>
            topic.partitions.map((p, i) => ({ topic: topic.topic, partition: p.partition, offset: Math.max(p.fetchOffset, first.response.responses[t]!.partitions[i]!.highWatermark) })),
          );
          // No news in the whole wait: the first pass is still the answer (a high watermark it shows
          // is at most one watch interval old), and idle consumers cost one pass per fetch, not two.
          if (!(await log.waitForRecords(targets, waitMs, context.signal))) return first.response;
          return (await readAll(request, context)).response;
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

export function listOffsetsHandler({ log }: BrokerDeps): ApiHandler<ListOffsetsRequest, ListOffsetsResponse> {
  const answer = (partitionIndex: number, errorCode: number, found?: TimestampedOffset) => ({
    partitionIndex,
    errorCode,
    timestamp: found?.timestampMs ?? -1,
    offset: found?.offset ?? -1,
    leaderEpoch: -1,
  });
  const refuse = (request: ListOffsetsRequest, errorCode: number): ListOffsetsResponse => ({
    topics: request.topics.map((topic) => ({ name: topic.name, partitions: topic.partitions.map((p) => answer(p.partitionIndex, errorCode)) })),
  });
  return {
    codec: listOffsets,
    refuse,
    async handle(request, context) {
      const seen = new Map<string, number>();
      for (const topic of request.topics) for (const { partitionIndex } of topic.partitions) seen.set(`${topic.name}\u0000${partitionIndex}`, (seen.get(`${topic.name}\u0000${partitionIndex}`) ?? 0) + 1);
      const lookup = async (topic: string, partitionIndex: number, timestamp: number) => {
        if (!permits(context.principal, 'read', topic)) return answer(partitionIndex, KafkaErrors.TOPIC_AUTHORIZATION_FAILED);
        // Kafka answers a partition named twice INVALID_REQUEST, both times.
        if (seen.get(`${topic}\u0000${partitionIndex}`)! > 1) return answer(partitionIndex, KafkaErrors.INVALID_REQUEST);
        const special = specialTimestamps.get(timestamp);
        if (timestamp < 0 && (special === undefined || context.apiVersion < special.sinceVersion)) return answer(partitionIndex, KafkaErrors.UNSUPPORTED_VERSION);
        try {
          if (special?.query === 'none') {
            await log.offsetRange(topic, partitionIndex); // the partition must exist
            return answer(partitionIndex, KafkaErrors.NONE);
          }
          return answer(partitionIndex, KafkaErrors.NONE, await log.listOffset(topic, partitionIndex, special?.query ?? { timestampMs: timestamp }));
        } catch (error) {
          return answer(partitionIndex, kafkaErrorFor(error).code);
        }
      };
      const topics = await Promise.all(
        request.topics.map(async (topic) => ({
          name: topic.name,
          partitions: await Promise.all(topic.partitions.map(({ partitionIndex, timestamp }) => lookup(topic.name, partitionIndex, timestamp))),
        })),
      );
      return { topics };
    },
  };
}

/** Records in whole batches, from their headers (recordCount is the int32 at byte 57). */
function recordsIn(batches: readonly Buffer[]): number {
  return batches.reduce((sum, batch) => sum + (batch.length >= 61 ? batch.readInt32BE(57) : 0), 0);
}
