/**
 * A transactional producer's state (one per `transactional.id`) and how it changes: Kafka's
 * transaction coordinator (KIP-98, KIP-360, KIP-447, KIP-890) as pure functions. Each takes the
 * state as read (undefined: none yet) and a request, and answers either an error for the client or
 * the state to write (null: nothing to write) with the answer to give once it is written; the
 * coordinator writes it with a compare-and-set on `version`, so any agent may serve any request and
 * no coordinator process exists (store.ts does the writing; coordinator.ts carries out an end:
 * markers, offsets, completion; lib/kafka/handlers/transactions.ts serves it over the wire).
 *
 * Invariants (each proved in test/transactions/state.test.ts):
 *  1. Fencing: at most one producer instance holds the live identity (producer id and epoch).
 *     Once an epoch is handed out, a request with an older one changes nothing (PRODUCER_FENCED),
 *     nor does one naming another producer id (INVALID_PRODUCER_ID_MAPPING). The one exception is
 *     the retry of a request that made a bump for the same instance (KIP-360's own bump, a TV2
 *     EndTxn), which is answered as before; a new instance's InitProducerId, a fence and a timeout
 *     leave nothing such a retry could match, so an older instance can never be handed the epoch.
 *  2. A transaction ends once: PrepareCommit / PrepareAbort are entered from Ongoing (TV2: an
 *     abort from Empty or Complete* too), and only move on to the matching Complete*; a decision
 *     once written is never reversed.
 *  3. An InitProducerId while a transaction is open fences it: the epoch is bumped and the open
 *     transaction aborted (markers with the new epoch) before any new transaction can begin; the
 *     answer is CONCURRENT_TRANSACTIONS until the abort is complete, as in Kafka.
 *  4. An epoch handed to a client is at most `maxEpoch` (32766, Short.MAX_VALUE - 1): past it the
 *     producer id changes and the epoch starts again at 0. Markers may carry maxEpoch + 1 (the
 *     bump that ends a transaction at maxEpoch); the producer then continues under `nextProducerId`.
 *  5. A transaction open longer than its timeout is aborted with a bumped epoch (`expire`): the
 *     producer that left it is fenced.
 *  6. While a decision's markers are written (Prepare*), the producer's requests wait
 *     (CONCURRENT_TRANSACTIONS), and only the completer of that very Prepare (its `version`) may
 *     complete it: a stalled marker writer never completes a later transaction.
 *
 * TV2 (KIP-890 part 2, EndTxn v5+): every EndTxn bumps the epoch, the markers carry the new epoch
 * and the answer hands it to the client for its next transaction, so a delayed write or EndTxn of
 * one transaction can never land in the next.
 */

/** Kafka's TransactionState, but PrepareEpochFence (never stored) and Dead (an expired id: its item is deleted). */
export type TxnPhase = 'Empty' | 'Ongoing' | 'PrepareCommit' | 'PrepareAbort' | 'CompleteCommit' | 'CompleteAbort';

export interface TxnPartition {
  readonly topic: string;
  readonly partition: number;
}

/** An offset a transaction commits for a consumer group (TxnOffsetCommit): applied with its COMMIT, dropped with its ABORT. */
export interface PendingOffset {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  /** The id of the topic incarnation it is of. */
  readonly topicId: string;
  readonly offset: number;
  readonly metadata: string | null;
}

export interface TxnState {
  readonly producerId: number;
  readonly epoch: number;
  /** The epoch before the last bump (-1: none): a retry carrying it is answered as the first time, not fenced. */
  readonly lastEpoch: number;
  /** The producer id before the last rotation (-1: none), for the same retries. */
  readonly previousProducerId: number;
  /** Prepare*, the epoch spent: the producer id the producer continues under, at epoch 0, once complete (-1: none). */
  readonly nextProducerId: number;
  readonly phase: TxnPhase;
  readonly timeoutMs: number;
  /** The partitions written in the open (or ending) transaction, in the order added. */
  readonly partitions: readonly TxnPartition[];
  /** The consumer groups whose offsets it commits (AddOffsetsToTxn; TV2: TxnOffsetCommit). */
  readonly groups: readonly string[];
  /** The offsets it commits (TxnOffsetCommit), the last one per group and partition. */
  readonly offsets: readonly PendingOffset[];
  /** When the open transaction began (its first partition or group); -1 when none is open. */
  readonly startedMs: number;
  readonly updatedMs: number;
  /** Bumped on every write: the compare-and-set field. */
  readonly version: number;
}

/** Short.MAX_VALUE - 1: Kafka's last usable epoch. */
export const maxEpoch = 32_766;

export type TxnError =
  | 'CONCURRENT_TRANSACTIONS'
  | 'PRODUCER_FENCED'
  | 'INVALID_PRODUCER_ID_MAPPING'
  | 'INVALID_TXN_STATE'
  | 'INVALID_TRANSACTION_TIMEOUT'
  | 'TRANSACTION_ABORTABLE';

/**
 * What a request does: the state to write (null: nothing) and then the answer; or an error, after
 * writing `next` if given (InitProducerId fencing an open transaction writes its abort, then answers
 * CONCURRENT_TRANSACTIONS).
 */
export type Decision<T> =
  | { readonly error: TxnError; readonly next?: TxnState }
  | { readonly error?: undefined; readonly next: TxnState | null; readonly answer: T };

export interface ProducerIdentity {
  readonly producerId: number;
  readonly epoch: number;
}

export interface InitRequest {
  readonly timeoutMs: number;
  /** KIP-360: a producer recovering its own id sends its producer id and epoch; -1 and -1 otherwise. */
  readonly producerId: number;
  readonly epoch: number;
}

/**
 * Whether a bump of this state's epoch (InitProducerId, a fence, a timeout, a TV2 EndTxn) moves the
 * producer to a new producer id: none yet, or the epoch is spent. A rule that needs one and was
 * given none throws ProducerIdNeeded: the coordinator allocates one then and asks again, so a
 * request that needs no id costs no allocation.
 */
export function needsProducerId(state: TxnState | undefined): boolean {
  return state === undefined || state.epoch >= maxEpoch;
}

export class ProducerIdNeeded extends Error {
  constructor() {
    super('this decision hands out a new producer id: allocate one and decide again');
    this.name = 'ProducerIdNeeded';
  }
}

function required(freshProducerId: number | undefined): number {
  if (freshProducerId === undefined) throw new ProducerIdNeeded();
  return freshProducerId;
}

const changed = (state: TxnState, nowMs: number, fields: Partial<TxnState>): TxnState => ({
  ...state,
  ...fields,
  updatedMs: nowMs,
  version: state.version + 1,
});

type Identity = Pick<TxnState, 'producerId' | 'epoch' | 'lastEpoch' | 'previousProducerId' | 'nextProducerId'>;

/**
 * InitProducerId's bump: the next epoch, or a fresh producer id at epoch 0 once the epoch is spent.
 * `retriable`: the request named the producer's own id and epoch (KIP-360), so its retry, carrying
 * them again, is answered as the first time. A new instance's request (-1, -1) leaves nothing a
 * retry could match: every earlier instance is fenced, whatever it sends (Kafka sets
 * lastProducerEpoch to -1 there).
 */
function bumped(state: TxnState, freshProducerId: number | undefined, retriable: boolean): Identity {
  const lastEpoch = retriable ? state.epoch : -1;
  if (state.epoch < maxEpoch) return { ...identityOf(state), epoch: state.epoch + 1, lastEpoch, previousProducerId: -1 };
  return {
    producerId: required(freshProducerId),
    epoch: 0,
    lastEpoch,
    previousProducerId: retriable ? state.producerId : -1,
    nextProducerId: -1,
  };
}

/**
 * The bump that ends a transaction (a fence, a timeout, a TV2 EndTxn): its markers carry epoch + 1,
 * under the same producer id. `retriable` (a TV2 EndTxn): its retry, at the epoch before, is
 * answered again; a fence's epoch is never handed to anyone, and the fenced producer's requests
 * at the epoch before are refused.
 */
function bumpedForMarkers(state: TxnState, freshProducerId: number | undefined, retriable: boolean): Identity {
  const spent = state.epoch >= maxEpoch;
  return {
    ...identityOf(state),
    epoch: state.epoch + 1,
    lastEpoch: retriable ? state.epoch : -1,
    previousProducerId: -1,
    nextProducerId: spent ? required(freshProducerId) : -1,
  };
}

const identityOf = (state: TxnState): Identity => ({
  producerId: state.producerId,
  epoch: state.epoch,
  lastEpoch: state.lastEpoch,
  previousProducerId: state.previousProducerId,
  nextProducerId: state.nextProducerId,
});

const preparing = (state: TxnState) => state.phase === 'PrepareCommit' || state.phase === 'PrepareAbort';

/** What the producer continues under once a Prepare* state is complete. */
function afterCompletion(state: TxnState): ProducerIdentity {
  return state.nextProducerId === -1
    ? { producerId: state.producerId, epoch: state.epoch }
    : { producerId: state.nextProducerId, epoch: 0 };
}

/**
 * While markers are being written, the producer's requests wait (CONCURRENT_TRANSACTIONS, which
 * clients retry): those of the ending transaction and, TV2, of the next one, already under the
 * identity the EndTxn answer handed out (a new producer id, after a rotation). Kafka checks the
 * pending transition before the epoch for the same reason (KAFKA-18464, KAFKA-18660).
 */
function waitsForMarkers(state: TxnState, request: ProducerIdentity): boolean {
  if (!preparing(state)) return false;
  const next = afterCompletion(state);
  const current = request.producerId === state.producerId && request.epoch === state.epoch;
  return current || isRetry(state, request) || (request.producerId === next.producerId && request.epoch === next.epoch);
}

/** Whether `request` names this state's producer: its id, or the id before a rotation, at the spent epoch it had. */
function sameProducer(state: TxnState, request: ProducerIdentity): boolean {
  return (
    request.producerId === state.producerId ||
    (request.producerId === state.previousProducerId && request.epoch === state.lastEpoch && state.lastEpoch >= maxEpoch)
  );
}

/** A retry of the request that made the last retriable bump (its answer was lost): it carries the epoch before it. */
function isRetry(state: TxnState, request: ProducerIdentity): boolean {
  return state.lastEpoch >= 0 && request.epoch === state.lastEpoch && sameProducer(state, request);
}

/**
 * InitProducerId with a transactional.id: the producer's id and a new epoch, fencing every older
 * instance. `freshProducerId`: see ProducerIdNeeded.
 */
export function initProducerId(
  state: TxnState | undefined,
  request: InitRequest,
  nowMs: number,
  maxTimeoutMs: number,
  freshProducerId?: number,
): Decision<ProducerIdentity> {
  if (request.timeoutMs <= 0 || request.timeoutMs > maxTimeoutMs) return { error: 'INVALID_TRANSACTION_TIMEOUT' };
  if (state === undefined) {
    const next: TxnState = {
      producerId: required(freshProducerId),
      epoch: 0,
      lastEpoch: -1,
      previousProducerId: -1,
      nextProducerId: -1,
      phase: 'Empty',
      timeoutMs: request.timeoutMs,
      partitions: [],
      groups: [],
      offsets: [],
      startedMs: -1,
      updatedMs: nowMs,
      version: 0,
    };
    return { next, answer: { producerId: next.producerId, epoch: 0 } };
  }
  const recovering = request.producerId !== -1;
  if (preparing(state))
    return recovering && !waitsForMarkers(state, request) ? { error: 'PRODUCER_FENCED' } : { error: 'CONCURRENT_TRANSACTIONS' };
  if (recovering && !sameProducer(state, request)) return { error: 'PRODUCER_FENCED' };
  if (state.phase === 'Ongoing') {
    // Fence the open transaction: abort it under a bumped epoch; the client retries until the abort is complete.
    if (recovering && request.epoch !== state.epoch) return { error: 'PRODUCER_FENCED' };
    return {
      error: 'CONCURRENT_TRANSACTIONS',
      next: changed(state, nowMs, { ...bumpedForMarkers(state, freshProducerId, false), phase: 'PrepareAbort' }),
    };
  }
  if (recovering && isRetry(state, request)) return { next: null, answer: { producerId: state.producerId, epoch: state.epoch } };
  if (recovering && (request.producerId !== state.producerId || request.epoch !== state.epoch)) return { error: 'PRODUCER_FENCED' };
  const identity = bumped(state, freshProducerId, recovering);
  const next = changed(state, nowMs, {
    ...identity,
    phase: 'Empty',
    timeoutMs: request.timeoutMs,
    partitions: [],
    groups: [],
    offsets: [],
    startedMs: -1,
  });
  return { next, answer: { producerId: identity.producerId, epoch: identity.epoch } };
}

export interface AddRequest extends ProducerIdentity {
  readonly partitions?: readonly TxnPartition[];
  readonly groups?: readonly string[];
}

/**
 * AddPartitionsToTxn (v0-3) and AddOffsetsToTxn: the partitions and groups join the transaction,
 * which begins if none is open. TV2's implicit adds (Produce v12, TxnOffsetCommit v5) come here too.
 */
export function addToTransaction(state: TxnState | undefined, request: AddRequest, nowMs: number): Decision<null> {
  if (state === undefined) return { error: 'INVALID_PRODUCER_ID_MAPPING' };
  if (waitsForMarkers(state, request)) return { error: 'CONCURRENT_TRANSACTIONS' };
  if (request.producerId !== state.producerId) return { error: 'INVALID_PRODUCER_ID_MAPPING' };
  if (request.epoch !== state.epoch) return { error: 'PRODUCER_FENCED' };
  const open = state.phase === 'Ongoing';
  const partitions = open ? [...state.partitions] : [];
  for (const added of request.partitions ?? [])
    if (!partitions.some((p) => p.topic === added.topic && p.partition === added.partition)) partitions.push({ ...added });
  const groups = open ? [...state.groups] : [];
  const offsets = open ? state.offsets : [];
  for (const group of request.groups ?? []) if (!groups.includes(group)) groups.push(group);
  if (open && partitions.length === state.partitions.length && groups.length === state.groups.length) return { next: null, answer: null };
  return {
    next: changed(state, nowMs, { phase: 'Ongoing', partitions, groups, offsets, startedMs: open ? state.startedMs : nowMs }),
    answer: null,
  };
}

export interface StageOffsetsRequest extends ProducerIdentity {
  readonly group: string;
  readonly offsets: readonly PendingOffset[];
  /** TxnOffsetCommit v5+ (TV2): the group joins the transaction; before, AddOffsetsToTxn must have added it. */
  readonly addsGroup: boolean;
}

/**
 * TxnOffsetCommit: the offsets wait in the transaction until it ends (applied on commit, dropped on
 * abort). Before TV2 the group must be in the open transaction (KIP-890 part 1: else TRANSACTION_ABORTABLE).
 */
export function stageOffsets(state: TxnState | undefined, request: StageOffsetsRequest, nowMs: number): Decision<null> {
  if (request.addsGroup) {
    const added = addToTransaction(state, { ...request, groups: [request.group] }, nowMs);
    if (added.error !== undefined) return added;
    state = added.next ?? state;
  } else {
    if (state === undefined) return { error: 'INVALID_PRODUCER_ID_MAPPING' };
    if (waitsForMarkers(state, request)) return { error: 'CONCURRENT_TRANSACTIONS' };
    if (request.producerId !== state.producerId) return { error: 'INVALID_PRODUCER_ID_MAPPING' };
    if (request.epoch !== state.epoch) return { error: 'PRODUCER_FENCED' };
    if (state.phase !== 'Ongoing' || !state.groups.includes(request.group)) return { error: 'TRANSACTION_ABORTABLE' };
  }
  const current = state!;
  const same = (a: PendingOffset, b: PendingOffset) => a.group === b.group && a.topic === b.topic && a.partition === b.partition;
  const offsets = [...current.offsets.filter((o) => !request.offsets.some((n) => same(o, n))), ...request.offsets];
  return { next: changed(current, nowMs, { offsets }), answer: null };
}

export interface EndRequest extends ProducerIdentity {
  readonly commit: boolean;
  /** EndTxn v5+ (KIP-890 part 2): the epoch is bumped and handed back. */
  readonly tv2: boolean;
}

/**
 * EndTxn: the decision is written (PrepareCommit / PrepareAbort) and answered; the coordinator then
 * writes the markers into every partition of the transaction (and applies or drops its groups'
 * offsets), and `complete` records that. The answer is the producer id and epoch for the next
 * transaction (TV2; before TV2 they do not change). `freshProducerId`: see ProducerIdNeeded.
 */
export function endTransaction(
  state: TxnState | undefined,
  request: EndRequest,
  nowMs: number,
  freshProducerId?: number,
): Decision<ProducerIdentity> {
  if (state === undefined) return { error: 'INVALID_PRODUCER_ID_MAPPING' };
  if (waitsForMarkers(state, request)) return { error: 'CONCURRENT_TRANSACTIONS' };
  if (!sameProducer(state, request)) return { error: 'INVALID_PRODUCER_ID_MAPPING' };
  const current = { producerId: state.producerId, epoch: state.epoch };
  const result = request.commit ? 'Commit' : 'Abort';
  // Before TV2 an EndTxn never bumps the epoch: its retry carries the current one, and an older one is a zombie's.
  const retry = request.tv2 && isRetry(state, request);
  if (!retry && (request.producerId !== state.producerId || request.epoch !== state.epoch || preparing(state)))
    return { error: 'PRODUCER_FENCED' };
  const prepare = (): Decision<ProducerIdentity> => {
    const next = changed(state, nowMs, {
      ...(request.tv2 ? bumpedForMarkers(state, freshProducerId, true) : {}),
      phase: `Prepare${result}`,
      startedMs: state.phase === 'Ongoing' ? state.startedMs : nowMs, // TV2 ends an empty transaction too: it starts and ends now
    });
    return { next, answer: afterCompletion(next) };
  };
  if (state.phase === 'Ongoing') return retry ? { error: 'PRODUCER_FENCED' } : prepare();
  const done = state.phase === `Complete${result}`;
  if (!request.tv2) return done ? { next: null, answer: current } : { error: 'INVALID_TXN_STATE' };
  // TV2: a retry of the EndTxn that completed is answered again; an abort with nothing open is allowed (and bumps).
  if (retry)
    return done ? { next: null, answer: current } : state.phase === 'Empty' ? { error: 'PRODUCER_FENCED' } : { error: 'INVALID_TXN_STATE' };
  return request.commit ? { error: 'INVALID_TXN_STATE' } : prepare();
}

/**
 * The markers of the Prepare* state at `preparedVersion` are in every partition and its groups'
 * offsets settled: that transaction is complete. Null (nothing to write) when the state is no longer
 * that one (another agent completed it, and perhaps a later transaction is being ended): a stalled
 * marker writer never completes a transaction whose markers it did not write.
 */
export function complete(state: TxnState | undefined, preparedVersion: number, nowMs: number): TxnState | null {
  if (state === undefined || !preparing(state) || state.version !== preparedVersion) return null;
  const rotated = state.nextProducerId !== -1;
  return changed(state, nowMs, {
    phase: state.phase === 'PrepareCommit' ? 'CompleteCommit' : 'CompleteAbort',
    ...(rotated ? { producerId: state.nextProducerId, epoch: 0, previousProducerId: state.producerId, nextProducerId: -1 } : {}),
    partitions: [],
    groups: [],
    offsets: [],
    startedMs: -1,
  });
}

/**
 * A transaction open past its timeout (Kafka: start + timeout < now) is aborted under a bumped
 * epoch, fencing the producer that left it; undefined when nothing is due. `freshProducerId`: see
 * ProducerIdNeeded.
 */
export function expire(state: TxnState, nowMs: number, freshProducerId?: number): TxnState | undefined {
  if (state.phase !== 'Ongoing' || state.startedMs + state.timeoutMs >= nowMs) return undefined;
  return changed(state, nowMs, { ...bumpedForMarkers(state, freshProducerId, false), phase: 'PrepareAbort' });
}
