/**
 * The transaction APIs (KIP-98, KIP-447, KIP-664, KIP-890) over lib/transactions: InitProducerId
 * with a transactional id, AddPartitionsToTxn (the client's v0-3), AddOffsetsToTxn, EndTxn,
 * TxnOffsetCommit, DescribeTransactions and ListTransactions. Any agent serves any transactional
 * id (the coordinator's state is in the store); FindCoordinator spreads ids over the live agents
 * by a hash (cluster.ts), and ListTransactions answers for the ids FindCoordinator gives this agent,
 * since Kafka's admin client asks every broker and merges the answers.
 *
 * Errors as Kafka gives them per version: PRODUCER_FENCED (90) is INVALID_PRODUCER_EPOCH (47) to
 * clients older than the version that knows it (InitProducerId v4, AddPartitionsToTxn v2,
 * AddOffsetsToTxn v2, EndTxn v2, TxnOffsetCommit: always 47 below v3), and TRANSACTION_ABORTABLE
 * (120) is INVALID_TXN_STATE (48) below the version that adds it (KIP-890).
 */
import { SpoolError } from '../../errors.js';
import type { TransactionCoordinator } from '../../transactions/coordinator.js';
import type { TxnPhase } from '../../transactions/state.js';
import { later, type ApiHandler, type RequestContext } from '../api.js';
import type { StoreCluster } from '../cluster.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import type { AddOffsetsToTxnRequest, AddOffsetsToTxnResponse } from '../protocol/messages/add-offsets-to-txn.js';
import type { AddPartitionsToTxnRequest, AddPartitionsToTxnResponse } from '../protocol/messages/add-partitions-to-txn.js';
import type { DescribeTransactionsRequest, DescribeTransactionsResponse } from '../protocol/messages/describe-transactions.js';
import type { EndTxnRequest, EndTxnResponse } from '../protocol/messages/end-txn.js';
import type { ListTransactionsRequest, ListTransactionsResponse } from '../protocol/messages/list-transactions.js';
import type { Encodable } from '../protocol/runtime.js';
import { codecs } from '../served.js';
import { permits, permitsDescribe, permitsGroup, permitsTransactions } from './deps.js';
import { GroupRefusal, type ClassicGroups } from '../classic-groups.js';
import { parseTpKey } from '../../groups/assignors.js';
import type { TxnOffsetCommitRequest, TxnOffsetCommitResponse } from '../protocol/messages/txn-offset-commit.js';

export interface TransactionHandlerDeps {
  readonly transactions: TransactionCoordinator;
  readonly cluster: StoreCluster;
  /** TxnOffsetCommit goes to the group's coordinator, which checks the member (KIP-447). */
  readonly groups: ClassicGroups;
}

/** The versions from which an API knows PRODUCER_FENCED and TRANSACTION_ABORTABLE (below them: 47 and 48). */
export interface ErrorVersions {
  readonly fencedFrom: number;
  readonly abortableFrom: number;
}

/** A failure's Kafka error code as the API at `version` can say it (a group's refusal: its own code). */
export function transactionErrorCode(error: unknown, version: number, known: ErrorVersions): number {
  if (error instanceof GroupRefusal) return error.errorCode;
  const code = kafkaErrorFor(error).code;
  if (code === KafkaErrors.PRODUCER_FENCED && version < known.fencedFrom) return KafkaErrors.INVALID_PRODUCER_EPOCH;
  if (code === KafkaErrors.TRANSACTION_ABORTABLE && version < known.abortableFrom) return KafkaErrors.INVALID_TXN_STATE;
  return code;
}

/** Kafka's internal offsets topic, and its default partition count (offsets.topic.num.partitions). */
const offsetsTopic = '__consumer_offsets';
const offsetsTopicPartitions = 50;

/** The __consumer_offsets partition Kafka keeps a group in: |Java hashCode of its id| mod 50 (GroupCoordinator.partitionFor). */
export function offsetsPartitionOf(group: string): number {
  let hash = 0;
  for (let i = 0; i < group.length; i++) hash = (Math.imul(hash, 31) + group.charCodeAt(i)) | 0;
  // Kafka's Utils.abs: Integer.MIN_VALUE maps to 0.
  return (hash === -0x80000000 ? 0 : Math.abs(hash)) % offsetsTopicPartitions;
}

/** Kafka's name of a state, as DescribeTransactions and ListTransactions answer it. */
const stateNames: Readonly<Record<TxnPhase, string>> = {
  Empty: 'Empty',
  Ongoing: 'Ongoing',
  PrepareCommit: 'PrepareCommit',
  PrepareAbort: 'PrepareAbort',
  CompleteCommit: 'CompleteCommit',
  CompleteAbort: 'CompleteAbort',
};

/**
 * A transaction API acting for a transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED for a
 * principal that may not use it, then whatever `refused` finds (other permissions), else `run`; a
 * failure is answered as the API at the request's version can say it (`known`). `answer` builds the
 * response from one error code for the whole request, or from `run`'s result (NONE).
 */
function transactionApi<Request, Response, Result = void>(
  codec: ApiHandler<Request, Response>['codec'],
  known: ErrorVersions,
  api: {
    readonly run: (request: Request, context: RequestContext) => Promise<Result>;
    readonly answer: (request: Request, errorCode: number, result?: Result) => Response;
    readonly refused?: (request: Request, context: RequestContext) => Response | undefined;
  },
): ApiHandler<Request, Response> {
  return {
    codec,
    async handle(request, context) {
      if (!permitsTransactions(context.principal)) return api.answer(request, KafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
      const refusal = api.refused?.(request, context);
      if (refusal !== undefined) return refusal;
      return later(
        api.run(request, context).then(
          (result) => api.answer(request, KafkaErrors.NONE, result),
          (error: unknown) => api.answer(request, transactionErrorCode(error, context.apiVersion, known)),
        ),
      );
    },
  };
}

export function addPartitionsToTxnHandler({
  transactions,
}: TransactionHandlerDeps): ApiHandler<AddPartitionsToTxnRequest, Encodable<AddPartitionsToTxnResponse>> {
  const answer = (request: AddPartitionsToTxnRequest, codeOf: (topic: string) => number): Encodable<AddPartitionsToTxnResponse> => ({
    throttleTimeMs: 0,
    errorCode: KafkaErrors.NONE,
    resultsByTopicV3AndBelow: request.v3AndBelowTopics.map((topic) => ({
      name: topic.name,
      resultsByPartition: topic.partitions.map((partitionIndex) => ({ partitionIndex, partitionErrorCode: codeOf(topic.name) })),
    })),
  });
  return transactionApi(
    codecs.addPartitionsToTxn,
    { fencedFrom: 2, abortableFrom: 5 },
    {
      // Kafka checks every partition first: one refused fails the request, the others answer OPERATION_NOT_ATTEMPTED.
      refused: (request, context) => {
        const topics = request.v3AndBelowTopics.filter((topic) => !permits(context.principal, 'write', topic.name));
        const refused = new Set(topics.map((topic) => topic.name));
        return refused.size === 0
          ? undefined
          : answer(request, (topic) => (refused.has(topic) ? KafkaErrors.TOPIC_AUTHORIZATION_FAILED : KafkaErrors.OPERATION_NOT_ATTEMPTED));
      },
      run: (request) =>
        transactions.add(
          request.v3AndBelowTransactionalId,
          { producerId: request.v3AndBelowProducerId, epoch: request.v3AndBelowProducerEpoch },
          {
            partitions: request.v3AndBelowTopics.flatMap((topic) =>
              topic.partitions.map((partition) => ({ topic: topic.name, partition })),
            ),
          },
        ),
      answer: (request, errorCode) => answer(request, () => errorCode),
    },
  );
}

export function addOffsetsToTxnHandler({
  transactions,
}: TransactionHandlerDeps): ApiHandler<AddOffsetsToTxnRequest, Encodable<AddOffsetsToTxnResponse>> {
  return transactionApi(
    codecs.addOffsetsToTxn,
    { fencedFrom: 2, abortableFrom: 4 },
    {
      // As Kafka: the group's offsets will be committed, so the group needs read.
      refused: (request, context) =>
        permitsGroup(context.principal, 'read', request.groupId)
          ? undefined
          : { throttleTimeMs: 0, errorCode: KafkaErrors.GROUP_AUTHORIZATION_FAILED },
      run: (request) =>
        transactions.add(
          request.transactionalId,
          { producerId: request.producerId, epoch: request.producerEpoch },
          { groups: [request.groupId] },
        ),
      answer: (_request, errorCode) => ({ throttleTimeMs: 0, errorCode }),
    },
  );
}

/** EndTxn v0-5: v5 is KIP-890's TV2 (the epoch is bumped and answered). */
export function endTxnHandler({ transactions }: TransactionHandlerDeps): ApiHandler<EndTxnRequest, Encodable<EndTxnResponse>> {
  return transactionApi(
    codecs.endTxn,
    { fencedFrom: 2, abortableFrom: 4 },
    {
      run: (request, context) =>
        transactions.end(request.transactionalId, {
          producerId: request.producerId,
          epoch: request.producerEpoch,
          commit: request.committed,
          tv2: context.apiVersion >= 5,
        }),
      answer: (_request, errorCode, next) => ({
        throttleTimeMs: 0,
        errorCode,
        producerId: next?.producerId ?? -1,
        producerEpoch: next?.epoch ?? -1,
      }),
    },
  );
}

/** InitProducerId with a transactional id (the coordinator's part; without one, produce.ts answers). */
export async function initTransactionalProducer(
  transactions: TransactionCoordinator,
  request: {
    readonly transactionalId: string;
    readonly transactionTimeoutMs: number;
    readonly producerId: number;
    readonly producerEpoch: number;
  },
  version: number,
): Promise<{ errorCode: number; producerId: number; producerEpoch: number }> {
  try {
    const identity = await transactions.initProducerId(request.transactionalId, {
      timeoutMs: request.transactionTimeoutMs,
      producerId: request.producerId,
      epoch: request.producerEpoch,
    });
    return { errorCode: KafkaErrors.NONE, producerId: identity.producerId, producerEpoch: identity.epoch };
  } catch (error) {
    return { errorCode: transactionErrorCode(error, version, { fencedFrom: 4, abortableFrom: 5 }), producerId: -1, producerEpoch: -1 };
  }
}

/**
 * TxnOffsetCommit v0-5: the member's right to commit is checked by the group's coordinator (this
 * agent: the client found it with FindCoordinator), and the offsets are staged in the transaction,
 * to be written when it commits. v5 (TV2) adds the group to the transaction itself.
 */
export function txnOffsetCommitHandler({
  transactions,
  groups,
}: TransactionHandlerDeps): ApiHandler<TxnOffsetCommitRequest, Encodable<TxnOffsetCommitResponse>> {
  const known = { fencedFrom: 3, abortableFrom: 4 };
  const answer = (request: TxnOffsetCommitRequest, codeAt: (ti: number, pi: number) => number): Encodable<TxnOffsetCommitResponse> => ({
    throttleTimeMs: 0,
    topics: request.topics.map((t, ti) => ({
      name: t.name,
      topicId: t.topicId,
      partitions: t.partitions.map((p, pi) => ({ partitionIndex: p.partitionIndex, errorCode: codeAt(ti, pi) })),
    })),
  });
  return transactionApi(codecs.txnOffsetCommit, known, {
    refused: (request, context) =>
      permitsGroup(context.principal, 'read', request.groupId) ? undefined : answer(request, () => KafkaErrors.GROUP_AUTHORIZATION_FAILED),
    // The group's side refusing (not its coordinator, a bad group id) fails the whole request, as OffsetCommit would.
    run: async (request, context) => {
      const { errors, commits } = await groups.checkTransactionalOffsets(request, (topic) => permits(context.principal, 'read', topic));
      if (commits.length === 0) return errors;
      await transactions
        .stageOffsets(
          request.transactionalId,
          { producerId: request.producerId, epoch: request.producerEpoch },
          request.groupId,
          commits.map(({ key, topicId, offset, metadata }) => ({ group: request.groupId, ...parseTpKey(key), topicId, offset, metadata })),
          context.apiVersion >= 5,
        )
        // Then marked on the group's offset items, for OffsetFetch's require_stable (UNSTABLE_OFFSET_COMMIT until the transaction ends).
        .then(() =>
          groups.markTransactionalOffsets(
            request.groupId,
            commits.map((c) => c.key),
            request.transactionalId,
          ),
        )
        .catch((error: unknown) => {
          const code = transactionErrorCode(error, context.apiVersion, known);
          for (const { at } of commits) errors[at[0]]![at[1]] = code;
        });
      return errors;
    },
    answer: (request, errorCode, errors) => answer(request, (ti, pi) => (errors === undefined ? errorCode : errors[ti]![pi]!)),
  });
}

export function describeTransactionsHandler({
  transactions,
}: TransactionHandlerDeps): ApiHandler<DescribeTransactionsRequest, Encodable<DescribeTransactionsResponse>> {
  const failed = (transactionalId: string, errorCode: number) => ({
    errorCode,
    transactionalId,
    transactionState: '',
    transactionTimeoutMs: 0,
    transactionStartTimeMs: -1,
    producerId: -1,
    producerEpoch: -1,
    topics: [],
  });
  return {
    codec: codecs.describeTransactions,
    async handle(request, context) {
      const transactionStates = await Promise.all(
        request.transactionalIds.map(async (transactionalId) => {
          if (!permitsTransactions(context.principal)) return failed(transactionalId, KafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
          try {
            const state = await transactions.describe(transactionalId);
            if (state === undefined) return failed(transactionalId, KafkaErrors.TRANSACTIONAL_ID_NOT_FOUND);
            const topics = new Map<string, number[]>();
            for (const { topic, partition } of state.partitions)
              if (permitsDescribe(context.principal, topic)) topics.set(topic, [...(topics.get(topic) ?? []), partition]);
            // A group's offsets are in the transaction as Kafka names them: its partition of __consumer_offsets.
            for (const group of state.groups)
              topics.set(offsetsTopic, [...new Set([...(topics.get(offsetsTopic) ?? []), offsetsPartitionOf(group)])]);
            return {
              errorCode: KafkaErrors.NONE,
              transactionalId,
              transactionState: stateNames[state.phase],
              transactionTimeoutMs: state.timeoutMs,
              transactionStartTimeMs: state.startedMs,
              producerId: state.producerId,
              producerEpoch: state.epoch,
              topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })),
            };
          } catch (error) {
            const invalid = error instanceof SpoolError && error.code === 'INVALID_ARGUMENT';
            return failed(transactionalId, invalid ? KafkaErrors.INVALID_REQUEST : kafkaErrorFor(error).code);
          }
        }),
      );
      return { throttleTimeMs: 0, transactionStates };
    },
  };
}

export function listTransactionsHandler({
  transactions,
  cluster,
}: TransactionHandlerDeps): ApiHandler<ListTransactionsRequest, Encodable<ListTransactionsResponse>> {
  return {
    codec: codecs.listTransactions,
    async handle(request, context) {
      const names = new Set(Object.values(stateNames));
      const unknownStateFilters = request.stateFilters.filter((state) => !names.has(state));
      const pattern = request.transactionalIdPattern ? idPattern(request.transactionalIdPattern) : undefined;
      if (pattern instanceof Error)
        return { throttleTimeMs: 0, errorCode: KafkaErrors.INVALID_REGULAR_EXPRESSION, unknownStateFilters: [], transactionStates: [] };
      const nowMs = Date.now();
      const transactionStates: { transactionalId: string; producerId: number; transactionState: string }[] = [];
      if (permitsTransactions(context.principal)) {
        const mine = await cluster.transactionCoordinatorIds();
        for await (const { transactionalId, state } of transactions.list()) {
          if (!mine(transactionalId)) continue;
          const name = stateNames[state.phase];
          if (request.stateFilters.length > 0 && !request.stateFilters.includes(name)) continue;
          if (request.producerIdFilters.length > 0 && !request.producerIdFilters.includes(state.producerId)) continue;
          // DurationFilter (v1+): transactions running longer than that; -1: any.
          if (request.durationFilter >= 0 && (state.startedMs < 0 || nowMs - state.startedMs <= request.durationFilter)) continue;
          if (pattern && !pattern.test(transactionalId)) continue;
          transactionStates.push({ transactionalId, producerId: state.producerId, transactionState: name });
        }
      }
      return { throttleTimeMs: 0, errorCode: KafkaErrors.NONE, unknownStateFilters, transactionStates };
    },
  };
}

/**
 * ListTransactions v2's id pattern (KIP-1152), matched against the whole id as Kafka's RE2/J
 * `matches()`. JavaScript's engine backtracks, so a pattern with a quantified group that itself holds
 * a quantifier (`(a+)+`, the shape whose backtracking is exponential) is refused, as is one that
 * does not compile or is longer than an id can be: INVALID_REGULAR_EXPRESSION, as Kafka answers a
 * pattern it cannot compile.
 */
export function idPattern(source: string): RegExp | Error {
  if (source.length > 1024) return new Error('pattern longer than a transactional id');
  if (/\([^()]*[*+}][^()]*\)\s*[*+{?]/.test(source)) return new Error('nested quantifiers');
  try {
    return new RegExp(`^(?:${source})$`, 'u');
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** Every transaction API handler, for the server's handler list. */
export function transactionHandlers(deps: TransactionHandlerDeps): ApiHandler<unknown, unknown>[] {
  return [
    addPartitionsToTxnHandler(deps),
    addOffsetsToTxnHandler(deps),
    endTxnHandler(deps),
    txnOffsetCommitHandler(deps),
    describeTransactionsHandler(deps),
    listTransactionsHandler(deps),
  ] as ApiHandler<unknown, unknown>[];
}
