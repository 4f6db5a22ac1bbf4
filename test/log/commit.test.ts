/**
 * The Committer (lib/log/commit.ts) beside its own other commits: an attempt is planned only at ends
 * it knows. A partition's cached end dropped while an attempt awaited (by a concurrent flush, a
 * marker, or an answer lost) is read again, never planned as unknown — which once put NaN into the
 * commit's writes, refused by DynamoDB as a failure no retry could mend. And a chunk whose attempt
 * may have landed (its answer lost) is not written again at an end another commit of the same
 * writer moved meanwhile: it is found where it landed.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type CommitChunk, Committer } from '../../lib/log/commit.js';
import { offsetSk, partitionKey, rowsPk } from '../../lib/keys.js';
import type { Log } from '../../lib/log/index.js';
import type { ItemKey, MetadataStore } from '../../lib/storage/ports.js';
import type { FaultyMetadataStore } from '../support/faults.js';
import { closeAll, newLog, openTestStores, type TestStores } from '../support/logs.js';
import { SpoolError } from '../../lib/errors.js';
import { memory } from '../support/stores.js';

const logs: Log[] = [];
const opened: TestStores[] = [];
afterEach(async () => {
  await closeAll(logs.splice(0), opened.splice(0));
});

/** Reads of one item held (once `holding`) until released. */
function holdingReads(metadata: FaultyMetadataStore, held: ItemKey) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let reached!: () => void;
  const reachedHold = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const state = { holding: false };
  metadata.beforeGet = async (key) => {
    if (state.holding && key.pk === held.pk && key.sk === held.sk) {
      reached();
      await released;
    }
  };
  return { state, reachedHold, release };
}

async function topicOn(stores: TestStores, partitions: number) {
  const log = newLog(stores);
  logs.push(log);
  const topic = `commit-${randomUUID()}`;
  await log.createTopic(topic, partitions);
  const { id: topicId } = await log.requireTopic(topic);
  const chunk = (partition: number, unit?: string): CommitChunk => ({
    topicId,
    topic,
    partition,
    objectKey: `objects/${randomUUID()}`,
    position: 0,
    sizeBytes: 10,
    recordCount: 1,
    maxTimestampMs: Date.now(),
    ...(unit === undefined ? {} : { unit }),
  });
  return { log, topic, topicId, chunk };
}

/** The first transaction lands, and its answer is lost. */
function loseFirstAnswer(metadata: FaultyMetadataStore): void {
  let lost = false;
  metadata.afterTransact = () => {
    if (lost) return;
    lost = true;
    throw new SpoolError('STORAGE_UNAVAILABLE', 'the answer was lost', { retriable: true });
  };
}

/**
 * A committer over `metadata` whose first backoff lets another commit of the same writer (a marker,
 * say) commit `rival` first, then runs `afterRival`; `rivalled()` is that commit's outcome.
 */
function rivalDuringBackoff(
  metadata: MetadataStore,
  rival: CommitChunk,
  options: { maxAttempts?: number; afterRival?: () => Promise<void> } = {},
) {
  let other: Promise<unknown> | undefined;
  const committer: Committer = new Committer(metadata, {
    maxAttempts: options.maxAttempts,
    sleep: async () => {
      if (other !== undefined) return;
      other = committer.commit([rival]);
      await other;
      await options.afterRival?.();
    },
  });
  return { committer, rivalled: () => other };
}

describe('log > commit', () => {
  it('finds a commit whose answer was lost where it landed, though another commit of the writer moved the end meanwhile: never writes it twice', async () => {
    const stores = await openTestStores(memory.locations());
    opened.push(stores);
    const { log, topic, chunk } = await topicOn(stores, 1);
    loseFirstAnswer(stores.metadata);
    // During the first commit's backoff, another commit of the same writer takes the next offset.
    const { committer, rivalled } = rivalDuringBackoff(stores.metadata, chunk(0));
    expect(await committer.commit([chunk(0)])).toEqual([{ ok: true, baseOffset: 0 }]);
    expect(await rivalled()).toEqual([{ ok: true, baseOffset: 1 }]);
    expect(await log.offsetRange(topic, 0)).toMatchObject({ latest: 2 });
  });

  it('writes nothing twice when the row of a commit whose answer was lost was merged by maintenance: it cannot tell, and says so', async () => {
    const stores = await openTestStores(memory.locations());
    opened.push(stores);
    const { log, topic, topicId, chunk } = await topicOn(stores, 1);
    loseFirstAnswer(stores.metadata);
    const { committer, rivalled } = rivalDuringBackoff(stores.metadata, chunk(0), {
      maxAttempts: 3,
      // Then a compaction merges rows 0 and 1 into a segment of its own, at row 0's base.
      afterRival: async () => {
        const rows = rowsPk(topicId, 0);
        await stores.metadata.transact([
          { kind: 'delete', key: { pk: rows, sk: offsetSk(1) } },
          {
            kind: 'put',
            key: { pk: rows, sk: offsetSk(0) },
            attrs: {
              ...(await stores.metadata.get({ pk: rows, sk: offsetSk(0) }))!.attrs,
              objectKey: 'partitions/merged',
              indexKey: 'partitions/merged.index',
              recordCount: 2,
            },
          },
        ]);
      },
    });
    const [outcome] = await committer.commit([chunk(0)]);
    expect(outcome!.ok).toBe(false); // landed, but nothing tells it so: reported as a failure to resend, not written again
    expect(await rivalled()).toEqual([{ ok: true, baseOffset: 1 }]);
    expect(await log.offsetRange(topic, 0)).toMatchObject({ latest: 2 });
  });

  it('reads again an end dropped by another commit while an attempt awaited, and commits both partitions at their ends', async () => {
    const stores = await openTestStores(memory.locations());
    opened.push(stores);
    const { log, topic, topicId, chunk } = await topicOn(stores, 2);
    const reads = holdingReads(stores.metadata, partitionKey(topicId, 1));
    const committer = new Committer(stores.metadata);
    expect(await committer.commit([chunk(0)])).toEqual([{ ok: true, baseOffset: 0 }]); // partition 0's end is now cached

    // One transaction for both: partition 0's end is known, partition 1's is being read when partition 0's is dropped.
    reads.state.holding = true;
    const committing = committer.commit([chunk(0, 'request'), chunk(1, 'request')]);
    await reads.reachedHold;
    committer.forget(topicId, 0);
    reads.state.holding = false;
    reads.release();
    expect(await committing).toEqual([
      { ok: true, baseOffset: 1 },
      { ok: true, baseOffset: 0 },
    ]);
    expect(await log.offsetRange(topic, 0)).toMatchObject({ latest: 2 });
    expect(await log.offsetRange(topic, 1)).toMatchObject({ latest: 1 });
  });
});
