/**
 * Expired producer states (Kafka's producer.id.expiration.ms), deleted from the store: a state not
 * written for the expiration time is already no state to every writer (idempotence.ts decides it on
 * read), so deleting it changes nothing a producer sees; it only stops the item costing storage and
 * a read per DescribeProducers. Each delete is conditional on the item being exactly as read (epoch,
 * next sequence, time of its last write): a producer that wrote meanwhile keeps its new state.
 *
 * An item written before expiry existed has no time: it is given this pass's time, once (by a
 * conditional update of the fields read, which a producer's commit overwrites anyway), so it expires
 * a full expiration time later rather than at once: a producer with batches in flight across the
 * upgrade keeps its duplicate detection.
 *
 * Run per partition at most once per check interval (Kafka's producer.id.expiration.check.interval.ms,
 * 10 minutes) by each process that runs maintenance (each agent, each Lambda container): one strongly
 * consistent query of the partition's producer states, one read unit when it has none.
 */
import { partitionPk, producerStateSks } from '../../keys.js';
import { ConditionFailedError, type WriteOp } from '../../storage/ports.js';
import { isExpired, producerStateFromItem } from '../idempotence.js';
import type { TopicItem } from '../layout.js';
import type { MaintenanceContext, MaintenanceResult } from './context.js';

export async function expireProducerStates(
  ctx: MaintenanceContext,
  topic: TopicItem,
  partition: number,
  result: MaintenanceResult,
): Promise<void> {
  const nowMs = ctx.now();
  for (const item of await ctx.metadata.query(partitionPk(topic.id, partition), producerStateSks)) {
    const state = producerStateFromItem(item)!;
    const key = { pk: item.pk, sk: item.sk };
    const asRead = { producerEpoch: state.producerEpoch, nextSequence: state.nextSequence };
    let op: WriteOp;
    if (state.lastWriteMs === undefined) {
      op = { kind: 'update', key, set: { lastWriteMs: nowMs }, condition: { kind: 'match', fields: asRead } };
    } else if (isExpired(state, nowMs, ctx.producerIdExpirationMs)) {
      op = { kind: 'delete', key, condition: { kind: 'match', fields: { ...asRead, lastWriteMs: state.lastWriteMs } } };
    } else continue;
    try {
      await ctx.metadata.write(op);
      if (op.kind === 'delete') result.producer_states_expired++;
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error; // the producer wrote meanwhile: its state is live
    }
  }
}
