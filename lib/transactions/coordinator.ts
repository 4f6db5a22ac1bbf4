/**
 * The transaction coordinator, with no coordinator process: every request reads the transactional
 * id's state, decides with state.ts and writes with store.ts's compare-and-set, so any agent serves
 * any transactional id. Ending a transaction is three steps, each idempotent and each resumable by
 * any agent: the decision (PrepareCommit / PrepareAbort) is written; the markers are written into
 * every partition of the transaction (Log.writeMarkers, once per partition whatever the number of
 * writers); the transaction is completed (complete(), bound to the Prepare's version).
 *
 * Invariants (state.ts's hold of every stored state; these of the steps around them):
 *  1. A transaction's records become visible to read_committed readers only through its COMMIT
 *     markers, and are skipped through its ABORT markers; a decision once written is carried out
 *     whoever carries it out, and never reversed.
 *  2. Complete* is written only after every marker of the Prepare it completes is in its partition:
 *     until then the producer's requests wait (CONCURRENT_TRANSACTIONS), so its next transaction
 *     cannot start on a partition the last one still holds open.
 *  3. A transactional batch is appended only while its producer's transaction is Ongoing with the
 *     partition in it (`verify`); one verified before its transaction ended is refused at commit
 *     (commit.ts, the marker version), so no transaction stays open on a partition with no marker
 *     to come (a hanging transaction, which would hold the last stable offset back for ever).
 *  4. An agent that dies between the steps leaves a Prepare* state; `sweep` (every agent runs it)
 *     and any request that finds a Prepare* older than `stalledAfterMs` carry it on. A transaction
 *     open past its timeout is aborted by the sweep under a bumped epoch (fencing its producer).
 *
 * A transaction's consumer-group offsets (TxnOffsetCommit) wait in its state and are written as the
 * groups' committed offsets after its COMMIT markers, before its completion (dropped on ABORT): a
 * consumer reading them after commitTransaction() returned resumes after the transaction's input.
 *
 * The EndTxn answer waits for the markers (and completion) when they can be written at once, so a
 * producer's next transaction does not begin with a round of CONCURRENT_TRANSACTIONS and a consumer
 * reading after commitTransaction() returned sees the records; if they cannot, the decision stands,
 * the answer is given, and the sweep finishes it.
 *
 * Cost: a transaction of P partitions costs, in the MetadataStore, one read and one conditional put
 * at its first AddPartitions (one more per later add that brings new partitions), one read per
 * partition for the first batch's verification, one read and put for the Prepare, P marker commits
 * (a transaction each, 3-4 items: partition, batch row, producer state, an abort's index entry) and
 * one read and put for the completion; in the object store, one PUT for all P markers.
 */
import { SpoolError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TxnMarker } from '../log/index.js';
import {
  addToTransaction,
  complete,
  endTransaction,
  expire,
  initProducerId,
  stageOffsets,
  type Decision,
  type PendingOffset,
  type ProducerIdentity,
  type TxnError,
  type TxnPartition,
  type TxnState,
} from './state.js';
import type { TransactionStore } from './store.js';
import { transactionShards } from '../keys.js';

/** What the coordinator needs of the log: writing markers. */
export interface MarkerWriter {
  writeMarkers(markers: readonly TxnMarker[]): Promise<void>;
}

/**
 * What it needs of the consumer groups: a committed transaction's offsets written as the group's
 * committed offsets (idempotent), only while the transactional id's state is still at the Prepare
 * `version` (a stalled finisher never writes over a later transaction's offsets).
 */
export interface OffsetWriter {
  commitTransactionalOffsets(
    group: string,
    offsets: readonly PendingOffset[],
    decision: { readonly transactionalId: string; readonly version: number },
  ): Promise<void>;
  /** An aborted transaction's offsets are dropped: their require_stable marks go (best effort). */
  abortTransactionalOffsets(group: string, offsets: readonly PendingOffset[], transactionalId: string): Promise<void>;
}

export interface CoordinatorOptions {
  /** Kafka's transaction.max.timeout.ms: the longest transaction.timeout.ms a producer may ask for. @default 900 000 */
  readonly maxTimeoutMs?: number;
  /** A Prepare* state this old is carried on by whoever finds it (its writer is presumed dead). @default 5 000 */
  readonly stalledAfterMs?: number;
  /** Kafka's transactional.id.expiration.ms: an id with no transaction open, unused this long, is forgotten by the sweep. @default 604 800 000 (7 days) */
  readonly idExpirationMs?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
}

export type ProduceVerification = 'check' | 'add';

export class TransactionCoordinator {
  private readonly maxTimeoutMs: number;
  private readonly stalledAfterMs: number;
  private readonly idExpirationMs: number;
  private readonly now: () => number;
  /** Ends under way in this process, by transactional id and Prepare version: one writer of markers per Prepare here. */
  private readonly finishing = new Map<string, Promise<void>>();

  constructor(
    readonly store: TransactionStore,
    private readonly markers: MarkerWriter,
    private readonly offsets: OffsetWriter,
    private readonly options: CoordinatorOptions = {},
  ) {
    this.maxTimeoutMs = options.maxTimeoutMs ?? 900_000;
    this.stalledAfterMs = options.stalledAfterMs ?? 5_000;
    this.idExpirationMs = options.idExpirationMs ?? 604_800_000;
    this.now = options.now ?? Date.now;
  }

  /** InitProducerId with a transactional id: the producer id and epoch to use, fencing older instances. */
  async initProducerId(
    transactionalId: string,
    request: { readonly timeoutMs: number; readonly producerId: number; readonly epoch: number },
  ): Promise<ProducerIdentity> {
    return this.decided(transactionalId, (state, fresh, nowMs) => initProducerId(state, request, nowMs, this.maxTimeoutMs, fresh));
  }

  /** AddPartitionsToTxn (v0-3) and AddOffsetsToTxn (a group). */
  async add(
    transactionalId: string,
    identity: ProducerIdentity,
    added: { readonly partitions?: readonly TxnPartition[]; readonly groups?: readonly string[] },
  ): Promise<void> {
    await this.decided(transactionalId, (state, _fresh, nowMs) => addToTransaction(state, { ...identity, ...added }, nowMs));
  }

  /**
   * A transactional batch's check before its partition accepts it (Produce; Kafka's partition leader
   * asks its coordinator, KIP-890). `check` (TV1): the transaction must be Ongoing with the
   * partition in it, else TRANSACTION_ABORTABLE. `add` (TV2, Produce v12+): the partition joins.
   */
  async verify(transactionalId: string, identity: ProducerIdentity, partition: TxnPartition, how: ProduceVerification): Promise<void> {
    if (how === 'add') return this.add(transactionalId, identity, { partitions: [partition] });
    const state = await this.store.get(transactionalId);
    if (state === undefined || state.producerId !== identity.producerId) throw txnError('INVALID_PRODUCER_ID_MAPPING', transactionalId);
    if (identity.epoch < state.epoch) throw txnError('PRODUCER_FENCED', transactionalId);
    if (state.phase === 'PrepareCommit' || state.phase === 'PrepareAbort') {
      await this.helpStalled(transactionalId, state);
      throw txnError('CONCURRENT_TRANSACTIONS', transactionalId);
    }
    const included = state.partitions.some((p) => p.topic === partition.topic && p.partition === partition.partition);
    if (state.phase !== 'Ongoing' || identity.epoch !== state.epoch || !included)
      throw new SpoolError(
        'TRANSACTION_ABORTABLE',
        `${partition.topic}/${partition.partition} is not in an open transaction of transactional id ${transactionalId} (state ${state.phase}); add it first`,
        { details: { transactional_id: transactionalId, topic: partition.topic, partition: partition.partition } },
      );
  }

  /** TxnOffsetCommit: the offsets wait in the transaction for its end (`addsGroup`: v5+, TV2). */
  async stageOffsets(
    transactionalId: string,
    identity: ProducerIdentity,
    group: string,
    offsets: readonly PendingOffset[],
    addsGroup: boolean,
  ): Promise<void> {
    await this.decided(transactionalId, (state, _fresh, nowMs) => stageOffsets(state, { ...identity, group, offsets, addsGroup }, nowMs));
  }

  /**
   * EndTxn: the decision is written, then carried out (markers, completion) before the answer when
   * it can be; the answer is the producer id and epoch to go on with (TV2: bumped).
   */
  async end(
    transactionalId: string,
    request: ProducerIdentity & { readonly commit: boolean; readonly tv2: boolean },
  ): Promise<ProducerIdentity> {
    let prepared: TxnState | undefined;
    const answer = await this.decided(transactionalId, (state, fresh, nowMs) => {
      const decision = endTransaction(state, request, nowMs, fresh);
      prepared = decision.next ?? undefined;
      return decision;
    });
    if (prepared) await this.finish(transactionalId, prepared).catch((error: unknown) => this.deferred(transactionalId, error));
    return answer;
  }

  /** The offsets the id's transaction holds until it ends (OffsetFetch require_stable); none once it has ended. */
  async heldOffsets(transactionalId: string): Promise<readonly PendingOffset[]> {
    const state = await this.store.get(transactionalId);
    return state && (state.phase === 'Ongoing' || preparing(state)) ? state.offsets : [];
  }

  /** DescribeTransactions: the id's state; undefined when the id is unknown. */
  describe(transactionalId: string): Promise<TxnState | undefined> {
    return this.store.get(transactionalId);
  }

  /** Every transactional id's state (ListTransactions). */
  list(): AsyncIterable<{ readonly transactionalId: string; readonly state: TxnState }> {
    return this.store.all();
  }

  /**
   * One round of the coordinator's housekeeping, safe on every agent at once: transactions open
   * past their timeout are aborted (fencing their producers), Prepare* states whose writer stalled
   * are carried on, ids idle past the expiration are forgotten. Answers what it did. A shard whose
   * read fails is left to the next round; the other shards are still swept.
   */
  async sweep(): Promise<{ readonly expired: number; readonly finished: number; readonly forgotten: number }> {
    let expired = 0;
    let finished = 0;
    let forgotten = 0;
    const ids: { readonly transactionalId: string; readonly state: TxnState }[] = [];
    for (let shard = 0; shard < transactionShards; shard++) {
      try {
        ids.push(...(await this.store.inShard(shard)));
      } catch (error) {
        this.options.logger?.log('warn', 'transaction sweep skipped a shard', {
          shard,
          message: error instanceof Error ? error.message : String(error),
        });
      }
    }
    for (const { transactionalId, state } of ids) {
      try {
        const nowMs = this.now();
        if (state.phase === 'Ongoing' && expire(state, nowMs, 0) !== undefined) {
          let aborting: TxnState | undefined;
          await this.store.apply(transactionalId, (current, fresh, at) => {
            aborting = current && expire(current, at, fresh);
            return { next: aborting ?? null, answer: null };
          });
          if (aborting) {
            expired++;
            await this.finish(transactionalId, aborting);
          }
        } else if (preparing(state) && nowMs - state.updatedMs >= this.stalledAfterMs) {
          finished++;
          await this.finish(transactionalId, state);
        } else if (!preparing(state) && state.phase !== 'Ongoing' && nowMs - state.updatedMs >= this.idExpirationMs) {
          if (await this.store.forget(transactionalId, state.version)) forgotten++;
        }
      } catch (error) {
        this.deferred(transactionalId, error);
      }
    }
    return { expired, finished, forgotten };
  }

  /** Runs a decision; throws its error (after carrying out a fence's abort it wrote); answers its answer. */
  private async decided<T>(
    transactionalId: string,
    decide: (state: TxnState | undefined, fresh: number | undefined, nowMs: number) => Decision<T>,
  ): Promise<T> {
    let read: TxnState | undefined;
    const decision = await this.store.apply(transactionalId, (state, fresh, nowMs) => {
      read = state;
      return decide(state, fresh, nowMs);
    });
    if (decision.error === undefined) return decision.answer;
    // InitProducerId fencing an open transaction wrote its abort: carry it out now, the client retries meanwhile.
    if (decision.next) await this.finish(transactionalId, decision.next).catch((error: unknown) => this.deferred(transactionalId, error));
    else if (decision.error === 'CONCURRENT_TRANSACTIONS' && read) await this.helpStalled(transactionalId, read);
    throw txnError(decision.error, transactionalId);
  }

  /** A Prepare* found by a request: carried on here if its writer seems to have stalled. */
  private async helpStalled(transactionalId: string, state: TxnState): Promise<void> {
    if (preparing(state) && this.now() - state.updatedMs >= this.stalledAfterMs)
      await this.finish(transactionalId, state).catch((error: unknown) => this.deferred(transactionalId, error));
  }

  /** Writes the markers of a Prepare* state, then completes it (once per Prepare in this process). */
  private finish(transactionalId: string, prepared: TxnState): Promise<void> {
    const key = `${transactionalId}\u0000${prepared.version}`;
    let running = this.finishing.get(key);
    if (running === undefined) {
      running = (async () => {
        const commit = prepared.phase === 'PrepareCommit';
        // Offsets after the markers (as Kafka writes the offsets partition's marker with the rest), before the completion.
        await this.markers.writeMarkers(
          prepared.partitions.map(({ topic, partition }) => ({
            topic,
            partition,
            producerId: prepared.producerId,
            producerEpoch: prepared.epoch,
            commit,
            version: prepared.version,
          })),
        );
        const byGroup = new Map<string, PendingOffset[]>();
        for (const offset of prepared.offsets) byGroup.set(offset.group, [...(byGroup.get(offset.group) ?? []), offset]);
        for (const [group, offsets] of byGroup) {
          if (commit) await this.offsets.commitTransactionalOffsets(group, offsets, { transactionalId, version: prepared.version });
          else
            await this.offsets
              .abortTransactionalOffsets(group, offsets, transactionalId)
              .catch((error: unknown) => this.deferred(transactionalId, error));
        }
        await this.store.apply(transactionalId, (state, _fresh, nowMs) => ({
          next: complete(state, prepared.version, nowMs),
          answer: null,
        }));
      })().finally(() => this.finishing.delete(key));
      this.finishing.set(key, running);
    }
    return running;
  }

  private deferred(transactionalId: string, error: unknown): void {
    this.options.logger?.log('warn', 'transaction end deferred to the sweep', {
      transactional_id: transactionalId,
      message: error instanceof Error ? error.message : String(error),
    });
  }
}

const preparing = (state: TxnState) => state.phase === 'PrepareCommit' || state.phase === 'PrepareAbort';

const txnMessages: Record<TxnError, string> = {
  CONCURRENT_TRANSACTIONS: 'a transaction of this transactional id is being ended; retry',
  PRODUCER_FENCED: 'a newer instance of this transactional id has fenced this producer (or its transaction timed out)',
  INVALID_PRODUCER_ID_MAPPING: 'the producer id does not belong to this transactional id',
  INVALID_TXN_STATE: 'the request does not fit the transaction state of this transactional id',
  INVALID_TRANSACTION_TIMEOUT: 'the transaction timeout must be positive and at most the coordinator maximum',
  TRANSACTION_ABORTABLE: 'the transaction does not include this consumer group (AddOffsetsToTxn first); abort it',
};

function txnError(code: TxnError, transactionalId: string): SpoolError {
  return new SpoolError(code, `${txnMessages[code]} (transactional id ${transactionalId})`, {
    details: { transactional_id: transactionalId },
  });
}
