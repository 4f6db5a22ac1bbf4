/**
 * Transactional ids' states in the MetadataStore (keys.ts `transactionKey`): read, decided by
 * state.ts, and written with a compare-and-set on `version` (absent, for a new id); when another
 * agent wrote first, decided again on the item the refusal carries. Any agent may serve any
 * transactional id: there is no coordinator process, and no cache to invalidate.
 *
 * Invariant: a state is written only as state.ts decided it from the state it replaces, so every
 * invariant of state.ts holds of the stored sequence of states, whatever the number of agents
 * (test/transactions/store.suite.ts races them on the embedded store and DynamoDB Local).
 *
 * Cost: one conditional put per change (a transaction's first add, its end, its completion), one
 * read per request; a retry after a lost race costs no read; a producer id is allocated only for a
 * decision that hands one out (a new id, a spent epoch).
 */
import { describeValue, SpoolError } from '../errors.js';
import { transactionKey, transactionPk, transactionShards } from '../keys.js';
import { type Attributes, ConditionFailedError, type Item, type MetadataStore } from '../storage/ports.js';
import { type Decision, type PendingOffset, ProducerIdNeeded, type TxnPartition, type TxnPhase, type TxnState } from './state.js';

/** Kafka's limit on a transactional id is the request's string; DynamoDB's on a sort key is 1,024 bytes. */
const maxIdBytes = 1024;

export function checkTransactionalId(transactionalId: string): void {
  const bytes = Buffer.byteLength(transactionalId, 'utf8');
  if (bytes === 0 || bytes > maxIdBytes) {
    throw new SpoolError(
      'INVALID_ARGUMENT',
      `a transactional id must be 1 to ${maxIdBytes} bytes of UTF-8, got ${describeValue(transactionalId)}`,
      {
        details: { field: 'transactional_id' },
      },
    );
  }
}

/** Decides from the state as read (undefined: none); given a fresh producer id only after asking for one (ProducerIdNeeded). */
export type Decide<T> = (state: TxnState | undefined, freshProducerId: number | undefined, nowMs: number) => Decision<T>;

/** Lost races before giving up: each means another agent changed this id meanwhile. */
const maxAttempts = 16;

export class TransactionStore {
  constructor(
    private readonly metadata: MetadataStore,
    /** A producer id unique across every writer (Log.allocateProducerId). */
    private readonly allocateProducerId: () => Promise<number>,
    private readonly now: () => number = Date.now,
  ) {}

  async get(transactionalId: string): Promise<TxnState | undefined> {
    checkTransactionalId(transactionalId);
    const item = await this.metadata.get(transactionKey(transactionalId));
    return item ? stateFromItem(item) : undefined;
  }

  /** Every transactional id's state, shard by shard (ListTransactions). */
  async *all(): AsyncIterable<{ readonly transactionalId: string; readonly state: TxnState }> {
    for (let shard = 0; shard < transactionShards; shard++) yield* await this.inShard(shard);
  }

  /** The states of the ids in one shard (the sweep reads shard by shard, so one failed query costs one shard's round). */
  async inShard(shard: number): Promise<{ readonly transactionalId: string; readonly state: TxnState }[]> {
    return (await this.metadata.query(transactionPk(shard))).map((item) => ({ transactionalId: item.sk, state: stateFromItem(item) }));
  }

  /**
   * Runs `decide` on the id's state and writes what it decides, if anything; answers the decision
   * that was written (or needed no write). A producer id allocated for a decision that lost its race
   * is not reused: ids are plentiful, and one is never handed out twice.
   */
  async apply<T>(transactionalId: string, decide: Decide<T>): Promise<Decision<T>> {
    checkTransactionalId(transactionalId);
    const key = transactionKey(transactionalId);
    let item = await this.metadata.get(key);
    for (let attempt = 1; ; attempt++) {
      const state = item ? stateFromItem(item) : undefined;
      const decision = await this.decideWithId(decide, state);
      if (!decision.next) return decision;
      try {
        await this.metadata.write({
          kind: 'put',
          key,
          attrs: stateAttrs(decision.next),
          condition: state ? { kind: 'match', fields: { version: state.version } } : { kind: 'absent' },
        });
        return decision;
      } catch (error) {
        if (!(error instanceof ConditionFailedError) || attempt >= maxAttempts) throw error;
        item = error.current;
      }
    }
  }

  /** Deletes an id's state if it is still at `version` (an expired id, Kafka's Dead); whether it did. */
  async forget(transactionalId: string, version: number): Promise<boolean> {
    try {
      await this.metadata.write({
        kind: 'delete',
        key: transactionKey(transactionalId),
        condition: { kind: 'match', fields: { version } },
      });
      return true;
    } catch (error) {
      if (error instanceof ConditionFailedError) return false;
      throw error;
    }
  }

  /** An id is allocated (a shared counter's write) only for a decision that hands one out. */
  private async decideWithId<T>(decide: Decide<T>, state: TxnState | undefined): Promise<Decision<T>> {
    try {
      return decide(state, undefined, this.now());
    } catch (error) {
      if (!(error instanceof ProducerIdNeeded)) throw error;
      return decide(state, await this.allocateProducerId(), this.now());
    }
  }
}

export function stateAttrs(state: TxnState): Attributes {
  return {
    producerId: state.producerId,
    epoch: state.epoch,
    lastEpoch: state.lastEpoch,
    previousProducerId: state.previousProducerId,
    nextProducerId: state.nextProducerId,
    phase: state.phase,
    timeoutMs: state.timeoutMs,
    partitions: state.partitions.map(({ topic, partition }) => [topic, partition]),
    groups: [...state.groups],
    offsets: state.offsets.map((o) => ({ ...o })),
    startedMs: state.startedMs,
    updatedMs: state.updatedMs,
    version: state.version,
  };
}

export function stateFromItem(item: Item): TxnState {
  const a = item.attrs;
  return {
    producerId: a.producerId as number,
    epoch: a.epoch as number,
    lastEpoch: a.lastEpoch as number,
    previousProducerId: a.previousProducerId as number,
    nextProducerId: a.nextProducerId as number,
    phase: a.phase as TxnPhase,
    timeoutMs: a.timeoutMs as number,
    partitions: (a.partitions as readonly (readonly [string, number])[]).map(([topic, partition]): TxnPartition => ({ topic, partition })),
    groups: [...(a.groups as readonly string[])],
    offsets: ((a.offsets as unknown as PendingOffset[] | undefined) ?? []).map((o) => ({ ...o })),
    startedMs: a.startedMs as number,
    updatedMs: a.updatedMs as number,
    version: a.version as number,
  };
}
