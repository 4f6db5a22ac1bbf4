/**
 * The commit: turning uploaded chunks into offsets. This module owns the log's invariants.
 *
 * Invariants (each has a test in test/log/invariants.test.ts, run on every adapter):
 *  1. A partition's offsets are dense, start at 0, and each is assigned exactly once.
 *  2. A reader never sees an offset whose data is not readable.
 *  3. A writer whose lease epoch has been superseded cannot commit.
 *  4. They hold with writers racing, a writer dying at any step, a stale cached end offset, retention
 *     running at the same time, and a retried commit whose first response was lost.
 *  5. Reads on the commit path are strongly consistent.
 *
 * Protocol: one MetadataStore transaction per flush holding, for each partition touched,
 *   - update of the partition item: nextOffset := base + count, if nextOffset = base
 *     (and epoch = the writer's lease epoch, when the writer leads the partition), and no packing
 *     writer holds the partition (`packedBy` absent: its offsets are then assigned by that writer
 *     alone, in its packed commits: packed.ts, packing.ts; refused here as NOT_LEADER);
 *   - create of the batch row (partition, base) → (object key, byte position, size), if absent.
 * The segment object is stored before the transaction (2), so a row never points at missing bytes; a
 * writer dying before the transaction leaves an unreferenced object (an orphan for maintenance) and
 * no offsets. nextOffset moves only by that compare-and-set, in the same atomic step that creates
 * the row at its old value, so rows tile [logStart, nextOffset) with no gap or overlap (1), whatever
 * the cached `base` was (4: a stale cache only costs a retry, with the current value returned by the
 * conflict). Epoch fencing (3) rides in the same condition. Retention only moves logStartOffset and
 * deletes rows below it; it never touches nextOffset, so it cannot collide with a commit.
 *
 * Why this and not "create the row at the end learned from the last row":
 * there the end is inferred from rows, which compaction rewrites and retention deletes, and fencing
 * would need a ConditionCheck on a lease item anyway — a transaction after all. Here the single
 * nextOffset field is the truth, and fencing is free.
 *
 * A leader's commit on a lease of its own also sets the partition's leaseExpiresMs (same item, same
 * write, same epoch condition): a partition written at least every renewal interval needs no separate
 * lease renewal. A lease on an agent's registration (leases.ts) has no expiry to extend.
 *
 * Transactions (lib/transactions; test/log/transactions.suite.ts): a chunk's transactional batches
 * open their producer's transaction on the partition (the producer-state item's txnFirstOffset, and
 * the partition item's openTxns, whose oldest is the last stable offset); a marker chunk (one control
 * batch) closes it, and an abort also writes the aborted-transaction item at the marker's offset, in
 * the same transaction as the offsets. Markers are written once per coordinator decision (the
 * producer state's markerVersion: a repeat is answered as done); a transactional batch checked under
 * one markerVersion is refused once another is stored (so no transaction stays open on a partition
 * with no marker to come), and the producer-state condition includes it, whoever wrote the marker.
 * openTxns is cached with nextOffset: every change to it is a commit, which moves nextOffset, so the
 * nextOffset condition proves the cached copy current.
 *
 * Cost: per partition per flush, 2 items in a transaction = 4 write units (items under 1 KB;
 * transactional writes cost double). Per flush: 1 object PUT + 4 WCU × partitions touched, in one
 * TransactWriteItems call (up to 50 partitions; more are split into several, each atomic, committed
 * concurrently since they share no item; the chunks of one unit, a request's partitions, are kept in
 * one transaction when they fit in one). No read on the happy path: the leader caches nextOffset.
 *
 * Racing writers: a commit refused because another writer got there first (its condition failed on
 * a partition that moved on, or DynamoDB cancelled it for a concurrent transaction on the same item)
 * is not a failure of this writer: the partition is advancing. The loser backs off, reads the
 * partition's end again (the end its refusal returned is as old as the backoff, and on a hot
 * partition a retry there would lose again) and retries. Lost races are bounded by time
 * (`maxContentionMs`, below the API's 30 s Lambda timeout), not by a count: with many writers on one
 * hot partition a fair writer loses many times in a row, and a count would fail a request while the
 * partition committed every round trip. Only storage errors spend the `maxAttempts`.
 *
 * Lost responses: when a commit fails ambiguously (timeout, 5xx) we keep the same base and try again.
 * If the first attempt did land, the retry's row create fails and returns the row: it names our
 * object and position, so the chunk is known committed at that base and is not written twice. The
 * writer's other commits (a concurrent flush, a transaction marker) share its cache of ends and may
 * move the end meanwhile: the chunk is then planned at another base only once the rows at its
 * earlier bases show it did not land. When the commit deadline or the attempts run out before a
 * retry could tell, the rows at the bases of the ambiguous attempts are read before a failure is
 * reported: a landed commit is not reported failed (its writer would send it again, and a
 * non-idempotent record would then appear twice) unless maintenance has rewritten its row since
 * (a compacted row keeps the base of the first row it merged): that tells nothing, and the chunk is
 * reported failed rather than written again (an idempotent resend is recognised by its sequence).
 */
import { SpoolError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import {
  TransactionConflictError,
  maxTransactionOps,
  type AttributeValue,
  type Item,
  type MetadataStore,
  type WriteOp,
} from '../storage/ports.js';
import { advance, producerStateAttrs, producerStateCondition, type ProducerState, type ProducerStates } from './idempotence.js';
import { abortedTxnAttrs, batchRowAttrs, batchRowFromItem, partitionStateFromItem, type AbortedTxn, type BatchRow } from './layout.js';
import { abortedTxnKey, partitionKey, producerStateKey, rowKey } from '../keys.js';

/** Chunks per transaction: two writes each, within DynamoDB's 100-item limit. */
export const maxChunksPerTransaction = 50;

/** An idempotent producer's batches in a chunk, in order; `startDelta` is the first record's position in the chunk. */
export interface ChunkProducer {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly batches: readonly { readonly firstSequence: number; readonly lastSequence: number; readonly startDelta: number }[];
  /**
   * Transactional batches: the producer state's marker version when they were found to belong to the
   * producer's open transaction (Log.appendBatches). A marker written since ended that transaction:
   * the chunk is then refused (TRANSACTION_ABORTABLE), never committed into a transaction that no
   * marker will close (Kafka's verification guard, KIP-890).
   */
  readonly transaction?: { readonly markerVersion: number };
}

/** A transaction marker (control batch) of a chunk that holds it alone. */
export interface ChunkMarker {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly commit: boolean;
  /** The coordinator's version of the Prepare it ends (lib/transactions): written once per partition; a repeat is answered as done. */
  readonly version: number;
  /**
   * An operator's abort (Log.abortTransaction): refused (INVALID_PRODUCER_EPOCH) if the producer's
   * epoch on the partition has moved past the marker's (`tv2`: or equals it with a transaction open,
   * as Kafka's leader judges a TV2 marker), judged on the state the commit is conditioned on, so no
   * newer epoch's transaction is aborted and no epoch goes backwards.
   */
  readonly operator?: { readonly tv2: boolean };
}

export interface CommitChunk {
  readonly topicId: string;
  readonly topic: string;
  readonly partition: number;
  readonly objectKey: string;
  readonly position: number;
  readonly sizeBytes: number;
  readonly recordCount: number;
  readonly maxTimestampMs: number;
  /** Set when the writer leads the partition: the commit then also requires this epoch. */
  readonly leaderEpoch?: number;
  /** Idempotent producers whose state (idempotence.ts) moves in the same transaction. */
  readonly producers?: readonly ChunkProducer[];
  /** The chunk is one transaction marker: its producer's state, the partition's open transactions and (an abort) its aborted-transaction entry move with it. */
  readonly marker?: ChunkMarker;
  /**
   * Chunks of a flush with the same unit commit in one transaction when they fit in one (one
   * request's partitions: all or nothing). @default a unit of its own
   */
  readonly unit?: string;
}

/** `repeated`: a marker already in the partition (baseOffset -1), written by an earlier attempt or another writer. */
export type CommitOutcome =
  | { readonly ok: true; readonly baseOffset: number; readonly repeated?: true }
  | { readonly ok: false; readonly error: SpoolError };

/** One write of a chunk's commit, tagged with what it writes: a conflict on it is read by that, not by its place. */
interface CommitWrite {
  readonly about: 'partition' | 'row' | 'producer' | 'aborted';
  readonly op: WriteOp;
}

export interface CommitterOptions {
  readonly now?: () => number;
  /** Attempts lost to storage errors (throttling, 5xx, timeouts) before a commit gives up. @default 30 */
  readonly maxAttempts?: number;
  /**
   * How long a commit keeps retrying while it loses races to other writers on its partitions (each
   * loss shows them advancing). @default 20 000 (below the API Lambda's 30 s timeout)
   */
  readonly maxContentionMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Told after every successful commit, e.g. to wake long-polling readers. `lease`: the extension a
   * leader's commit wrote to its lease (see `leaseMs`).
   */
  readonly onCommitted?: (
    topicId: string,
    partition: number,
    nextOffset: number,
    lease?: { readonly epoch: number; readonly expiresMs: number },
  ) => void;
  /** Told when a leader's commit finds its lease (taken at `epoch`) taken over: the partition is in a later epoch. */
  readonly onFenced?: (topicId: string, partition: number, epoch: number) => void;
  /**
   * How long a leader's commit extends its lease on the partition from commit time (renewal for free,
   * on the item the commit updates anyway); asked at each commit. 0: it does not (leases.ts: a lease
   * on a registration has nothing to extend). @default 0
   */
  readonly leaseExtensionMs?: () => number;
  /** Commits and commit conflicts are counted here. @default none */
  readonly metrics?: Metrics;
  /** Idempotent producers' state; required to commit chunks with `producers`. */
  readonly producerStates?: ProducerStates;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Committer {
  /** Cached nextOffset per partition: a hint only, verified by every commit's condition. */
  private readonly nextOffsets = new Map<string, number>();
  /**
   * The open transactions (producer id → first offset) of each partition whose nextOffset is cached,
   * as of that nextOffset: every change to them is a commit, which moves nextOffset, so the commit
   * condition on nextOffset also proves them current.
   */
  private readonly openTxns = new Map<string, Readonly<Record<string, number>>>();
  private readonly now: () => number;
  private readonly maxAttempts: number;
  private readonly maxContentionMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Counters for cost reports and tests. */
  readonly stats = { transactions: 0, conflicts: 0, retries: 0, partitionReads: 0 };

  constructor(
    private readonly metadata: MetadataStore,
    private readonly options: CommitterOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.maxAttempts = options.maxAttempts ?? 30;
    this.maxContentionMs = options.maxContentionMs ?? 20_000;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /**
   * Commits the chunks (at most one per partition) and returns an outcome for each, in order.
   * `notAfterMs`: no commit is attempted after this time. The writer sets it to upload time + a bound
   * below the garbage collector's grace period, so a writer stalled between upload and commit can
   * never commit a row pointing at an object the collector may already have deleted as an orphan.
   */
  async commit(chunks: readonly CommitChunk[], options: { notAfterMs?: number } = {}): Promise<CommitOutcome[]> {
    const ids = chunks.map((chunk) => partitionId(chunk.topicId, chunk.partition));
    if (new Set(ids).size !== ids.length) throw new SpoolError('INTERNAL', 'a flush holds at most one chunk per partition');
    const groups = transactionGroups(chunks);
    // The groups touch different partitions, so they commit concurrently: a flush over many
    // partitions waits about one transaction's time, not one per group.
    const outcomes: CommitOutcome[] = new Array(chunks.length);
    await Promise.all(
      groups.map(async (group) => {
        // A group's failure is its chunks' outcome; it must not hide the outcome of the other groups.
        const committed = await this.commitGroup(
          group.map((index) => chunks[index]!),
          options.notAfterMs ?? Infinity,
        ).catch((error: unknown) => ({
          outcomes: group.map(() => failed(error)),
          conflicts: 0,
        }));
        this.options.metrics?.emit({ Commits: [1, 'Count'], CommitConflicts: [committed.conflicts, 'Count'] });
        for (const [i, outcome] of committed.outcomes.entries()) outcomes[group[i]!] = outcome;
      }),
    );
    return outcomes;
  }

  /** Forgets a cached end offset (e.g. after a topic is deleted). */
  forget(topicId: string, partition: number): void {
    this.nextOffsets.delete(partitionId(topicId, partition));
  }

  private async commitGroup(chunks: readonly CommitChunk[], notAfterMs: number): Promise<{ outcomes: CommitOutcome[]; conflicts: number }> {
    let conflicts = 0;
    const settled = (final: CommitOutcome[]) => ({ outcomes: final, conflicts });
    const outcomes: (CommitOutcome | undefined)[] = new Array(chunks.length).fill(undefined);
    let lastError: SpoolError | undefined;
    // Attempts lost to storage errors; attempts lost to other writers are bounded by time instead.
    let failures = 0;
    const contentionDeadlineMs = this.now() + this.maxContentionMs;
    // Chunks that lost the last attempt's race: their end offset is read again after the backoff.
    const raced = new Set<number>();
    let lostRace = false;
    // Per chunk, the attempts whose transaction may have landed unbeknown to us (the answer was lost).
    const uncertain = new Map<number, { base: number; producerStates: { producerId: number; state: ProducerState }[] }[]>();
    for (let attempt = 1; failures < this.maxAttempts; attempt++) {
      const pending = chunks.map((_, index) => index).filter((index) => outcomes[index] === undefined);
      if (pending.length === 0) break;
      if (lostRace && this.now() > contentionDeadlineMs) {
        lastError = new SpoolError(
          'CONFLICT',
          `commit lost the race to other writers on the same partitions for ${this.maxContentionMs} ms; send again`,
          { retriable: true },
        );
        break;
      }
      if (attempt > 1) {
        this.stats.retries++;
        // Backoff: up to 2^attempt ms, capped lower after a lost race (the next try reads the end
        // afresh, and waiting longer only loses the race to writers that did not wait) than after a
        // storage error (throttling wants room).
        await this.sleep(Math.min(lostRace ? 50 : 200, 2 ** Math.min(attempt, 8)) * Math.random());
        // The end a lost race returned is as old as the backoff, and on a hot partition other writers
        // moved it meanwhile: a retry at it would surely lose again. One read is cheaper than that.
        for (const index of raced) this.nextOffsets.delete(partitionId(chunks[index]!.topicId, chunks[index]!.partition));
        raced.clear();
        lostRace = false;
      }
      if (this.now() > notAfterMs) {
        // No new attempt now; but one whose answer was lost may have landed: look before saying it did not.
        await this.settleUncertain(chunks, outcomes, uncertain);
        const late = new SpoolError('TIMEOUT', 'the segment was stored too long ago to be committed safely; send again');
        return settled(outcomes.map((outcome) => outcome ?? { ok: false, error: late }));
      }
      // Learn the end offset of partitions not cached yet (one consistent read each).
      try {
        await Promise.all(
          pending.map(async (index) => {
            const chunk = chunks[index]!;
            await this.learnProducers(chunk);
            if (this.nextOffsets.has(partitionId(chunk.topicId, chunk.partition))) return;
            this.stats.partitionReads++;
            const item = await this.metadata.get(partitionKey(chunk.topicId, chunk.partition));
            const verdict = this.learn(chunk, item);
            if (verdict) outcomes[index] = verdict;
          }),
        );
      } catch (error) {
        lastError = failed(error).error;
        if (!lastError.retriable) break; // (an earlier attempt whose answer was lost is looked for below)
        failures++;
        continue;
      }
      for (const index of pending) {
        const settled = this.settledWithout(chunks[index]!);
        // A refusal must not hide an earlier attempt that landed (its answer lost): its rows are looked for first.
        if (settled && !settled.ok && uncertain.has(index))
          await this.settleUncertain(chunks, outcomes, new Map([[index, uncertain.get(index)!]]));
        outcomes[index] ??= settled;
      }
      const live = pending.filter((index) => outcomes[index] === undefined);
      if (live.length === 0) break;
      // Another commit of this writer (a concurrent flush, a marker, a lost answer) may have dropped a
      // partition's cached end while this one awaited: it is read again, never planned at an unknown end.
      if (live.some((index) => !this.nextOffsets.has(partitionId(chunks[index]!.topicId, chunks[index]!.partition)))) {
        lostRace = true;
        continue;
      }
      // A chunk whose earlier attempt may have landed (its answer lost) is planned at another end only
      // once the rows at those earlier bases show that it did not: another commit of this writer (a
      // marker, a flush) may have moved the cached end meanwhile, and a plan there would write it twice.
      const endOf = (index: number) => this.nextOffsets.get(partitionId(chunks[index]!.topicId, chunks[index]!.partition));
      const moved = live.flatMap((index) => {
        const elsewhere = (uncertain.get(index) ?? []).filter((attempt) => attempt.base !== endOf(index));
        return elsewhere.length === 0 ? [] : [{ index, elsewhere }];
      });
      if (moved.length > 0) {
        for (const { index, elsewhere } of moved) {
          const found = await this.landedAt(chunks[index]!, elsewhere);
          if (found === 'unknown') {
            failures++;
            lastError = new SpoolError('STORAGE_UNAVAILABLE', 'could not tell whether an earlier commit attempt landed', {
              retriable: true,
            });
          } else if (found === 'none') {
            uncertain.set(
              index,
              uncertain.get(index)!.filter((attempt) => !elsewhere.includes(attempt)),
            );
          } else {
            outcomes[index] = this.committed(chunks[index]!, found.base, found.producerStates);
          }
        }
        continue;
      }

      const bases = live.map((index) => this.nextOffsets.get(partitionId(chunks[index]!.topicId, chunks[index]!.partition))!);
      const planned = live.map((index, i) => this.opsFor(chunks[index]!, bases[i]!));
      // Which chunk and which of its writes each op of the transaction is (a conflict names an op by its index).
      const owners = planned.flatMap((plan, i) => plan.writes.map(({ about }) => ({ i, about })));
      try {
        this.stats.transactions++;
        await this.metadata.transact(planned.flatMap((plan) => plan.writes.map(({ op }) => op)));
        for (const [i, index] of live.entries())
          outcomes[index] = this.committed(chunks[index]!, bases[i]!, planned[i]!.producerStates, planned[i]!.lease, planned[i]!.openTxns);
        break;
      } catch (error) {
        if (error instanceof TransactionConflictError) {
          this.stats.conflicts++;
          conflicts++;
          lostRace = true;
          // Rows first: a row that turns out to be ours settles its chunk before any other news of it.
          const ordered = [...error.conflicts].sort(
            (a, b) => Number(owners[b.index]?.about === 'row') - Number(owners[a.index]?.about === 'row'),
          );
          for (const conflict of ordered) {
            const owner = owners[conflict.index];
            if (owner === undefined) continue;
            const { i } = owner;
            const index = live[i]!;
            if (outcomes[index] !== undefined) continue;
            const chunk = chunks[index]!;
            if (owner.about === 'row') {
              // The row at our base exists. If it is ours, an earlier attempt landed.
              if (conflict.current && isOurs(batchRowFromItem(conflict.current), chunk))
                outcomes[index] = this.committed(chunk, bases[i]!, planned[i]!.producerStates);
              else raced.add(index);
            } else if (owner.about === 'partition') {
              const verdict = this.learn(chunk, conflict.current);
              if (verdict) outcomes[index] = verdict;
              else raced.add(index);
            } else if (owner.about === 'aborted') {
              raced.add(index); // (only with our row there: an earlier attempt landed, settled above)
            } else if (chunk.marker) {
              // A marker may be retried blindly: its producer's state is read again, and one already written is found there.
              this.options.producerStates?.forget(chunk.topicId, chunk.partition, chunk.marker.producerId);
              raced.add(index);
            } else {
              // A producer's state moved under us: another writer appended for it. Never retry blindly (that
              // could append a duplicate): fail the chunk; the client's retry is checked against the new state.
              for (const producer of chunk.producers ?? [])
                this.options.producerStates?.forget(chunk.topicId, chunk.partition, producer.producerId);
              outcomes[index] = {
                ok: false,
                error: new SpoolError(
                  'NOT_LEADER',
                  `an idempotent producer's state on ${chunk.topic}/${chunk.partition} was changed by another writer; send again`,
                  {
                    details: { topic: chunk.topic, partition: chunk.partition },
                  },
                ),
              };
            }
          }
          continue;
        }
        const failure = failed(error).error;
        if (!failure.retriable) {
          lastError = failure; // (an earlier attempt whose answer was lost is looked for below)
          break;
        }
        // Cancelled for a concurrent transaction on the same item: this attempt wrote nothing, another
        // writer is at work (storage/ports.ts). A lost race, like a condition conflict; but it tells
        // nothing of an earlier attempt whose answer was lost, so such a chunk keeps its base (its
        // retry there finds its row if that attempt landed).
        if (failure.code === 'CONFLICT') {
          this.stats.conflicts++;
          conflicts++;
          lostRace = true;
          for (const index of live) if (!uncertain.has(index)) raced.add(index);
          continue;
        }
        failures++;
        // Ambiguous: it may have landed. Keep the cached bases so the retry can recognise our rows.
        for (const [i, index] of live.entries())
          uncertain.set(index, [...(uncertain.get(index) ?? []), { base: bases[i]!, producerStates: planned[i]!.producerStates }]);
        lastError = failure;
      }
    }
    await this.settleUncertain(chunks, outcomes, uncertain);
    const gaveUp = lastError ?? new SpoolError('INTERNAL', 'commit ended without an outcome');
    return settled(outcomes.map((outcome) => outcome ?? { ok: false, error: gaveUp }));
  }

  /**
   * Settles chunks whose transaction may have landed with its answer lost: the row at a base such an
   * attempt used names our object and position if, and only if, it did. A chunk whose rows cannot
   * be read stays unsettled (its failure is then reported as it is).
   */
  private async settleUncertain(
    chunks: readonly CommitChunk[],
    outcomes: (CommitOutcome | undefined)[],
    uncertain: ReadonlyMap<number, readonly { base: number; producerStates: { producerId: number; state: ProducerState }[] }[]>,
  ): Promise<void> {
    for (const [index, attempts] of uncertain) {
      const chunk = chunks[index]!;
      for (const { base, producerStates } of attempts) {
        if (outcomes[index] !== undefined) break;
        const row = await this.metadata.get(rowKey(chunk.topicId, chunk.partition, base)).catch(() => undefined);
        if (row && isOurs(batchRowFromItem(row), chunk)) outcomes[index] = this.committed(chunk, base, producerStates);
      }
    }
  }

  /**
   * Whether one of a chunk's attempts, at bases the partition's end has since moved past, landed: the
   * row at each such base, as the commit wrote it, is ours if, and only if, it did. `unknown` when a
   * row cannot be read, is not there, or was rewritten by maintenance (a compacted row keeps the base
   * of the first row it merged, ours or not): nothing can be concluded, and the chunk is not planned
   * elsewhere (its failure is reported once the attempts run out; an idempotent resend is recognised).
   */
  private async landedAt(
    chunk: CommitChunk,
    attempts: readonly { base: number; producerStates: { producerId: number; state: ProducerState }[] }[],
  ): Promise<'none' | 'unknown' | { base: number; producerStates: { producerId: number; state: ProducerState }[] }> {
    for (const attempt of attempts) {
      const item = await this.metadata.get(rowKey(chunk.topicId, chunk.partition, attempt.base)).catch(() => undefined);
      const row = item && batchRowFromItem(item);
      if (row === undefined || row.indexKey !== undefined) return 'unknown';
      if (isOurs(row, chunk)) return attempt;
    }
    return 'none';
  }

  /** Loads the committed state of the chunk's producers (and its marker's) that this writer does not know yet. */
  private async learnProducers(chunk: CommitChunk): Promise<void> {
    const states = this.options.producerStates;
    const ids = [...(chunk.producers ?? []).map((p) => p.producerId), ...(chunk.marker ? [chunk.marker.producerId] : [])];
    if (ids.length === 0) return;
    if (!states) throw new SpoolError('INTERNAL', 'a chunk with idempotent batches needs producer states');
    for (const producerId of ids) {
      if (states.committed(chunk.topicId, chunk.partition, producerId) === undefined)
        await states.load(chunk.topicId, chunk.partition, producerId);
    }
  }

  /**
   * An outcome a chunk has without a commit (after its producers are loaded): a marker already in
   * the partition (a repeat: done), or transactional batches whose transaction a marker has ended
   * since they were accepted (refused).
   */
  private settledWithout(chunk: CommitChunk): CommitOutcome | undefined {
    const states = this.options.producerStates;
    if (!states) return undefined;
    const markerVersionOf = (producerId: number) => states.committed(chunk.topicId, chunk.partition, producerId)?.markerVersion ?? -1;
    if (chunk.marker && markerVersionOf(chunk.marker.producerId) >= chunk.marker.version)
      return { ok: true, baseOffset: -1, repeated: true };
    const operator = chunk.marker?.operator;
    const live = operator && states.live(states.committed(chunk.topicId, chunk.partition, chunk.marker!.producerId) ?? null);
    if (operator && live && staleOperatorEpoch(chunk.marker!.producerEpoch, live, operator.tv2))
      return {
        ok: false,
        error: new SpoolError(
          'INVALID_PRODUCER_EPOCH',
          `the epoch of producer ${chunk.marker!.producerId} on ${chunk.topic}/${chunk.partition} is ${live.producerEpoch}; an abort with epoch ${chunk.marker!.producerEpoch} is stale`,
          { details: { topic: chunk.topic, partition: chunk.partition, producer_id: chunk.marker!.producerId } },
        ),
      };
    const ended = chunk.producers?.find((p) => p.transaction && markerVersionOf(p.producerId) !== p.transaction.markerVersion);
    if (ended === undefined) return undefined;
    return {
      ok: false,
      error: new SpoolError(
        'TRANSACTION_ABORTABLE',
        `the transaction of producer ${ended.producerId} (epoch ${ended.producerEpoch}) on ${chunk.topic}/${chunk.partition} ended before its batch was committed`,
        { details: { topic: chunk.topic, partition: chunk.partition, producer_id: ended.producerId } },
      ),
    };
  }

  private opsFor(
    chunk: CommitChunk,
    base: number,
  ): {
    writes: CommitWrite[];
    producerStates: { producerId: number; state: ProducerState }[];
    lease?: { epoch: number; expiresMs: number };
    openTxns: Readonly<Record<string, number>>;
  } {
    const extensionMs = chunk.leaderEpoch === undefined ? 0 : (this.options.leaseExtensionMs?.() ?? 0);
    const lease = extensionMs > 0 ? { epoch: chunk.leaderEpoch!, expiresMs: this.now() + extensionMs } : undefined;
    const states = this.options.producerStates;
    const id = partitionId(chunk.topicId, chunk.partition);
    const openBefore = this.openTxns.get(id) ?? {};
    const open: Record<string, number> = { ...openBefore };
    const producerStates: { producerId: number; state: ProducerState }[] = [];
    const producerWrites: CommitWrite[] = [];
    let aborted: AbortedTxn | undefined;
    const stateOf = (producerId: number): ProducerState | null => {
      const before = states?.committed(chunk.topicId, chunk.partition, producerId);
      if (before === undefined)
        throw new SpoolError('STORAGE_UNAVAILABLE', `producer ${producerId} state on ${chunk.topic}/${chunk.partition} is not loaded`);
      return before;
    };
    const write = (producerId: number, before: ProducerState | null, state: ProducerState) => {
      producerStates.push({ producerId, state });
      producerWrites.push({
        about: 'producer',
        op: {
          kind: 'put',
          key: producerStateKey(chunk.topicId, chunk.partition, producerId),
          attrs: producerStateAttrs(state),
          condition: producerStateCondition(before),
        },
      });
    };
    for (const producer of chunk.producers ?? []) {
      const before = stateOf(producer.producerId);
      // An expired state is no state (idempotence.ts), but the condition is on the item as it is.
      const live = states!.live(before);
      const advanced = advance(
        live,
        producer.producerEpoch,
        producer.batches.map((b) => ({ firstSequence: b.firstSequence, lastSequence: b.lastSequence, baseOffset: base + b.startDelta })),
        this.now(),
      );
      // An open transaction stays open whatever else the producer's batches are (a plain one is refused on accept, Log.checkTransactional).
      const txnFirstOffset = live?.txnFirstOffset ?? (producer.transaction ? base + producer.batches[0]!.startDelta : undefined);
      if (txnFirstOffset !== undefined) open[producer.producerId] = txnFirstOffset;
      write(producer.producerId, before, {
        ...advanced,
        ...(before?.markerVersion === undefined ? {} : { markerVersion: before.markerVersion }),
        ...(txnFirstOffset === undefined ? {} : { txnFirstOffset }),
      });
    }
    if (chunk.marker) {
      const { producerId, producerEpoch, commit, version } = chunk.marker;
      const before = stateOf(producerId);
      const live = states!.live(before);
      // A marker with a new epoch (TV2, a fence) starts the producer's sequences over, as in Kafka.
      const sameEpoch = live !== null && live.producerEpoch === producerEpoch;
      write(producerId, before, {
        producerEpoch,
        nextSequence: sameEpoch ? live.nextSequence : 0,
        batches: sameEpoch ? live.batches : [],
        lastWriteMs: this.now(),
        markerVersion: version,
      });
      delete open[producerId];
      const firstOffset = live?.txnFirstOffset;
      if (!commit && firstOffset !== undefined)
        aborted = { producerId, firstOffset, lastStableOffset: Math.min(base + 1, ...Object.values(open)) };
    }
    const txnsChanged = !sameOpenTxns(openBefore, open);
    const writes = [...this.logOpsFor(chunk, base, lease?.expiresMs, txnsChanged ? open : undefined, aborted), ...producerWrites];
    return { writes, producerStates, lease, openTxns: open };
  }

  private logOpsFor(
    chunk: CommitChunk,
    base: number,
    leaseExpiresMs: number | undefined,
    openTxns: Readonly<Record<string, number>> | undefined,
    aborted: AbortedTxn | undefined,
  ): CommitWrite[] {
    // A partition a packing writer holds takes no per-partition commit (packed.ts): its end is in that writer's log.
    const fields: Record<string, AttributeValue> = { nextOffset: base, packedBy: null };
    if (chunk.leaderEpoch !== undefined) fields.epoch = chunk.leaderEpoch;
    const row: BatchRow = {
      baseOffset: base,
      recordCount: chunk.recordCount,
      objectKey: chunk.objectKey,
      position: chunk.position,
      sizeBytes: chunk.sizeBytes,
      maxTimestampMs: chunk.maxTimestampMs,
      committedMs: this.now(),
      recordTimes: true,
    };
    const set: Record<string, AttributeValue> = { nextOffset: base + chunk.recordCount };
    if (leaseExpiresMs !== undefined) set.leaseExpiresMs = leaseExpiresMs;
    if (openTxns !== undefined) set.openTxns = { ...openTxns };
    if (aborted !== undefined) set.lastAbortedOffset = base;
    return [
      {
        about: 'partition',
        op: { kind: 'update', key: partitionKey(chunk.topicId, chunk.partition), set, condition: { kind: 'match', fields } },
      },
      {
        about: 'row',
        op: { kind: 'put', key: rowKey(chunk.topicId, chunk.partition, base), attrs: batchRowAttrs(row), condition: { kind: 'absent' } },
      },
      ...(aborted === undefined
        ? []
        : [
            {
              about: 'aborted' as const,
              op: {
                kind: 'put' as const,
                key: abortedTxnKey(chunk.topicId, chunk.partition, base),
                attrs: abortedTxnAttrs(aborted),
                condition: { kind: 'absent' as const },
              },
            },
          ]),
    ];
  }

  /** Updates the cache from the partition item as it is now; returns a final outcome when there is one. */
  private learn(chunk: CommitChunk, item: Item | undefined): CommitOutcome | undefined {
    const id = partitionId(chunk.topicId, chunk.partition);
    if (item === undefined) {
      this.nextOffsets.delete(id);
      this.openTxns.delete(id);
      return {
        ok: false,
        error: new SpoolError('TOPIC_NOT_FOUND', `topic ${chunk.topic} (partition ${chunk.partition}) was deleted before the commit`, {
          details: { topic: chunk.topic, partition: chunk.partition },
        }),
      };
    }
    const state = partitionStateFromItem(item);
    this.nextOffsets.set(id, state.nextOffset);
    this.openTxns.set(id, state.openTransactions);
    if (chunk.leaderEpoch !== undefined && state.epoch !== chunk.leaderEpoch) {
      this.options.onFenced?.(chunk.topicId, chunk.partition, chunk.leaderEpoch);
      return {
        ok: false,
        error: new SpoolError(
          'FENCED_LEADER_EPOCH',
          `leader epoch ${chunk.leaderEpoch} of ${chunk.topic}/${chunk.partition} was superseded by epoch ${state.epoch}`,
          { details: { topic: chunk.topic, partition: chunk.partition, epoch: state.epoch } },
        ),
      };
    }
    if (state.packedBy !== null) {
      this.nextOffsets.delete(id); // (its end is not this item's nextOffset)
      return {
        ok: false,
        error: new SpoolError(
          'NOT_LEADER',
          `${chunk.topic}/${chunk.partition} is written by its leader ${state.owner ?? state.packedBy} alone (packed commits); send to it`,
          { details: { topic: chunk.topic, partition: chunk.partition, leader: state.owner ?? state.packedBy, packed_by: state.packedBy } },
        ),
      };
    }
    return undefined;
  }

  /**
   * `lease`: the lease extension this commit is known to have written (not known of an attempt whose
   * answer was lost); `openTxns`: the partition's open transactions it wrote (unknown of such an
   * attempt: the partition is then read again before its next commit).
   */
  private committed(
    chunk: CommitChunk,
    base: number,
    producerStates: readonly { producerId: number; state: ProducerState }[],
    lease?: { epoch: number; expiresMs: number },
    openTxns?: Readonly<Record<string, number>>,
  ): CommitOutcome {
    for (const { producerId, state } of producerStates)
      this.options.producerStates?.committedAs(chunk.topicId, chunk.partition, producerId, state);
    const next = base + chunk.recordCount;
    const id = partitionId(chunk.topicId, chunk.partition);
    if (openTxns === undefined) {
      this.nextOffsets.delete(id);
      this.openTxns.delete(id);
    } else if ((this.nextOffsets.get(id) ?? -1) <= base) {
      this.nextOffsets.set(id, next);
      this.openTxns.set(id, openTxns);
    }
    this.options.onCommitted?.(chunk.topicId, chunk.partition, next, lease);
    return { ok: true, baseOffset: base };
  }
}

/**
 * The chunks' indexes in transactions: each within DynamoDB's limits (`maxChunksPerTransaction`
 * chunks, `maxTransactionOps` writes), the chunks of a unit together, units packed in order of first
 * appearance. Only a unit too big for one transaction is split, in order.
 */
function transactionGroups(chunks: readonly CommitChunk[]): number[][] {
  const units = new Map<string, number[]>();
  chunks.forEach((chunk, index) => {
    const unit = chunk.unit ?? `#${index}`;
    const members = units.get(unit);
    if (members) members.push(index);
    else units.set(unit, [index]);
  });
  const groups: number[][] = [];
  let group: number[] = [];
  let ops = 0;
  const fits = (count: number, more: number) => group.length + count <= maxChunksPerTransaction && ops + more <= maxTransactionOps;
  const close = () => {
    if (group.length > 0) groups.push(group);
    group = [];
    ops = 0;
  };
  for (const members of units.values()) {
    const unitOps = members.reduce((sum, index) => sum + opCount(chunks[index]!), 0);
    if (!fits(members.length, unitOps)) close();
    for (const index of members) {
      // Only a unit larger than a transaction gets here with the group full.
      if (group.length > 0 && !fits(1, opCount(chunks[index]!))) close();
      group.push(index);
      ops += opCount(chunks[index]!);
    }
  }
  close();
  return groups;
}

function opCount(chunk: CommitChunk): number {
  // A marker: its producer's state, and (an abort) the aborted-transaction entry.
  return 2 + (chunk.producers?.length ?? 0) + (chunk.marker ? 2 : 0);
}

function sameOpenTxns(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

function failed(error: unknown): { ok: false; error: SpoolError } {
  return { ok: false, error: error instanceof SpoolError ? error : new SpoolError('INTERNAL', 'commit failed', { cause: error }) };
}

function isOurs(row: BatchRow, chunk: CommitChunk): boolean {
  return row.objectKey === chunk.objectKey && row.position === chunk.position;
}

/**
 * Whether an operator's abort at `epoch` is stale against the producer's live state on the partition:
 * an older epoch (TV1), or under TV2 (whose markers carry a bumped epoch) one not newer, unless it is
 * the same and no transaction is open. Log.abortTransaction checks it first; the commit again.
 */
export function staleOperatorEpoch(epoch: number, live: ProducerState, tv2: boolean): boolean {
  const open = live.txnFirstOffset !== undefined;
  return tv2 ? epoch <= live.producerEpoch && (open || epoch !== live.producerEpoch) : epoch < live.producerEpoch;
}

export function partitionId(topicId: string, partition: number): string {
  return `${topicId}#${partition}`;
}
