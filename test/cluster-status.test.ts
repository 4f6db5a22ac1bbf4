/** The cluster page's view (lib/cluster-status.ts): leadership within its read budget, and its cache. */
import { afterEach, describe, expect, it } from 'vitest';
import { clusterStatusSource } from '../lib/cluster-status.js';
import { partitionKey } from '../lib/keys.js';
import { Log, commitVersionFeature } from '../lib/log/index.js';
import { MemoryMetadataStore, MemoryObjectStore } from '../lib/storage/memory.js';

describe('cluster status', () => {
  const logs: Log[] = [];
  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close();
  });

  function open() {
    const metadata = new MemoryMetadataStore();
    const log = new Log({ stores: { metadata, objects: new MemoryObjectStore() }, producer: { batchIntervalMs: 0 } });
    logs.push(log);
    return { metadata, log };
  }

  it('reads leadership of whole topics within its budget, skipping a topic too large rather than stopping', async () => {
    const { metadata, log } = open();
    await log.createTopic('a-large', 6);
    await log.createTopic('b-small', 2);
    await log.createTopic('c-small', 1);
    await log.acquireLeadership('b-small', 1);
    // c-small's partition as a packing agent's take leaves it (packed commits), and their gate raised.
    const small = await log.requireTopic('c-small');
    await metadata.write({ kind: 'update', key: partitionKey(small.id, 0), set: { packedBy: 'agent-1.p0', packedSeq: 0 } });
    await log.features.update([{ feature: commitVersionFeature, level: 1, kind: 'upgrade' }]);
    const status = await clusterStatusSource({ log, metadata, maxLeadershipPartitions: 4 })();
    expect(status.leadership).toEqual({ partitions: 9, partitionsRead: 3, byWriter: { [log.writerId]: 1 }, withoutLeader: 2, packed: 1 });
    expect(status).toMatchObject({
      writerId: log.writerId,
      agents: [],
      features: { [commitVersionFeature]: 1 },
      maintenance: undefined,
      cost: undefined,
    });
  });

  it('reuses an answer for its period after reading it, shares a read between callers, and keeps no failed read', async () => {
    const { metadata, log } = open();
    let nowMs = 1_000_000;
    let reads = 0;
    const counting = new Proxy(metadata, {
      get: (target, name, receiver) => {
        if (name === 'query') reads++;
        const value = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const status = clusterStatusSource({ log, metadata: counting, cacheMs: 5000, now: () => nowMs });
    const [first, second] = await Promise.all([status(), status()]);
    expect(second).toBe(first);
    expect(reads).toBe(1); // one registrations query for both callers
    nowMs += 4999;
    expect(await status()).toBe(first);
    nowMs += 1;
    await log.createTopic('new', 1);
    expect((await status()).leadership.partitions).toBe(1);
    expect(reads).toBe(2);

    nowMs += 5000;
    metadata.query = async () => {
      throw new Error('store down');
    };
    await expect(status()).rejects.toThrow('store down');
    delete (metadata as { query?: unknown }).query; // the prototype's again
    expect((await status()).leadership.partitions).toBe(1);
  });
});
