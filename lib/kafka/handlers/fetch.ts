/**
 * Fetch and ListOffsets. Fetch answers stored batches with their base offsets patched (no
 * re-encoding); the first batch may begin before the offset asked for, as in Kafka, and clients skip
 * the records before it. With nothing to answer yet, Fetch waits up to max_wait_ms for a commit on
 * any of the partitions asked for. Any agent serves reads: the store is the truth, not the leader.
 */
import { setMaxListeners } from 'node:events';
import { SpoolError } from '../../errors.js';
import type { ApiHandler, Handled, RequestContext } from '../api.js';
import { fetch, type FetchPartitionResponse, type FetchRequest, type FetchResponse } from '../apis/fetch.js';
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, listOffsets, type ListOffsetsRequest, type ListOffsetsResponse } from '../apis/list-offsets.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import { later } from '../api.js';
import { permits, type BrokerDeps } from './deps.js';

/** Longest wait a client may ask of a fetch. */
const maxWaitCapMs = 30_000;

export function fetchHandler({ log, metrics }: BrokerDeps): ApiHandler<FetchRequest, FetchResponse> {
  const refuse = (request: FetchRequest, errorCode: number): FetchResponse => ({
    errorCode: KafkaErrors.NONE,
    responses: request.topics.map((topic) => ({
      topic: topic.topic,
      partitions: topic.partitions.map((p) => ({ partitionIndex: p.partition, errorCode, highWatermark: -1, logStartOffset: -1, records: [] })),
    })),
  });

  /** One pass over every partition asked for, within the request's byte budgets. */
  const readAll = async (request: FetchRequest, context: RequestContext, waitMs: number, signal: AbortSignal): Promise<{ response: FetchResponse; bytes: number }> => {
    let budget = request.maxBytes > 0 ? request.maxBytes : 0x7fffffff;
    let bytes = 0;
    const read = async (topic: string, partition: { partition: number; fetchOffset: number; partitionMaxBytes: number }): Promise<FetchPartitionResponse> => {
      const base = { partitionIndex: partition.partition, records: [] as Buffer[] };
      if (!permits(context.principal, 'read', topic)) return { ...base, errorCode: KafkaErrors.TOPIC_AUTHORIZATION_FAILED, highWatermark: -1, logStartOffset: -1 };
      try {
        // The first partition with data always gets at least one batch; after that the request's budget caps.
        const maxBytes = Math.min(partition.partitionMaxBytes, bytes === 0 ? Math.max(budget, 1) : budget);
        if (bytes > 0 && budget <= 0) {
          const range = await log.offsetRange(topic, partition.partition);
          return { ...base, errorCode: KafkaErrors.NONE, highWatermark: range.latest, logStartOffset: range.earliest };
        }
        const result = await log.readBatches(topic, partition.partition, partition.fetchOffset, { maxBytes, waitMs, signal });
        const size = result.batches.reduce((sum, batch) => sum + batch.length, 0);
        bytes += size;
        budget -= size;
        if (result.batches.length > 0) metrics.emit({ RecordsFetched: [recordsIn(result.batches), 'Count'] }, {}, { topic, partition: partition.partition });
        return { ...base, errorCode: KafkaErrors.NONE, highWatermark: result.highWatermark, logStartOffset: result.logStartOffset, records: result.batches };
      } catch (error) {
        const range = error instanceof SpoolError && error.code === 'OFFSET_OUT_OF_RANGE' ? await log.offsetRange(topic, partition.partition).catch(() => undefined) : undefined;
        return { ...base, errorCode: kafkaErrorFor(error).code, highWatermark: range?.latest ?? -1, logStartOffset: range?.earliest ?? -1 };
      }
    };
    const responses: FetchResponse['responses'][number][] = [];
    // Partitions in request order, one at a time, so the byte budget goes to the first ones as in Kafka.
    for (const topic of request.topics) {
      const partitions: FetchPartitionResponse[] = [];
      for (const partition of topic.partitions) partitions.push(await read(topic.topic, partition));
      responses.push({ topic: topic.topic, partitions });
    }
    return { response: { errorCode: KafkaErrors.NONE, responses }, bytes };
  };

  return {
    codec: fetch,
    handledFrom: 4,
    refuse,
    async handle(request, context): Promise<Handled<FetchResponse>> {
      const first = await readAll(request, context, 0, context.signal);
      const waitMs = Math.min(Math.max(request.maxWaitMs, 0), maxWaitCapMs);
      const anyError = first.response.responses.some((topic) => topic.partitions.some((p) => p.errorCode !== KafkaErrors.NONE));
      if (first.bytes >= Math.max(request.minBytes, 1) || waitMs === 0 || anyError) return first.response;
      // Nothing yet: wait for a commit on any partition asked for, then read again.
      return later(
        (async () => {
          const stop = new AbortController();
          // One waiter per partition listens on it: many partitions are expected, not a leak.
          setMaxListeners(0, stop.signal);
          const onClose = () => stop.abort();
          context.signal.addEventListener('abort', onClose, { once: true });
          try {
            const waits = request.topics.flatMap((topic) =>
              topic.partitions.map((p) =>
                log.readBatches(topic.topic, p.partition, p.fetchOffset, { maxBytes: 1, waitMs, signal: stop.signal }).then(
                  (result) => (result.batches.length > 0 ? true : new Promise<boolean>(() => {})),
                  () => new Promise<boolean>(() => {}),
                ),
              ),
            );
            const ended = new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
            await Promise.race([...waits, ended, new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
          } finally {
            stop.abort();
            context.signal.removeEventListener('abort', onClose);
          }
          return (await readAll(request, context, 0, context.signal)).response;
        })(),
      );
    },
  };
}

export function listOffsetsHandler({ log }: BrokerDeps): ApiHandler<ListOffsetsRequest, ListOffsetsResponse> {
  const refuse = (request: ListOffsetsRequest, errorCode: number): ListOffsetsResponse => ({
    topics: request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode, timestamp: -1, offset: -1, leaderEpoch: -1 })),
    })),
  });
  return {
    codec: listOffsets,
    refuse,
    async handle(request, context) {
      const topics = await Promise.all(
        request.topics.map(async (topic) => ({
          name: topic.name,
          partitions: await Promise.all(
            topic.partitions.map(async ({ partitionIndex, timestamp }) => {
              if (!permits(context.principal, 'read', topic.name)) return { partitionIndex, errorCode: KafkaErrors.TOPIC_AUTHORIZATION_FAILED, timestamp: -1, offset: -1, leaderEpoch: -1 };
              try {
                const at = timestamp === LATEST_TIMESTAMP ? 'latest' : timestamp === EARLIEST_TIMESTAMP ? 'earliest' : timestamp;
                if (typeof at === 'number' && at < 0) throw new SpoolError('INVALID_ARGUMENT', `timestamp must be -1 (latest), -2 (earliest) or a time in ms, got ${at}`);
                const offset = await log.offsetFor(topic.name, partitionIndex, at);
                return { partitionIndex, errorCode: KafkaErrors.NONE, timestamp: -1, offset: offset ?? -1, leaderEpoch: -1 };
              } catch (error) {
                return { partitionIndex, errorCode: kafkaErrorFor(error).code, timestamp: -1, offset: -1, leaderEpoch: -1 };
              }
            }),
          ),
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
