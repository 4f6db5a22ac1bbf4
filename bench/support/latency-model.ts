/**
 * Latency-injecting wrappers for the storage ports, modelling S3 Standard, S3 Express One Zone and
 * DynamoDB from this machine's embedded stores: each call waits a delay drawn from a log-normal
 * distribution fitted to the model's p50 and p99, plus transfer time at the model's bandwidth, then
 * runs on the real store. For benchmarks only: the product never loads this.
 */
import type { ByteRange, Item, ItemKey, MetadataStore, ObjectInfo, ObjectStore, QueryOptions, WriteOp } from '../../lib/storage/ports.js';
import { DelegatingMetadataStore, DelegatingObjectStore } from '../../test/support/delegating.js';

export interface LatencyModel {
  readonly name: string;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Transfer rate per request, bytes per ms (0: no transfer time). */
  readonly bytesPerMs: number;
}

export const s3Standard: LatencyModel = { name: 'S3 Standard PUT/GET', p50Ms: 30, p99Ms: 150, bytesPerMs: (100 * 1024 * 1024) / 1000 }; // 100 MiB/s per request
/**
 * S3 Express One Zone (directory buckets, same-AZ client): AWS advertises "single-digit millisecond"
 * request latency; published measurements put small PUT/GET near 5 ms at the median and 10–15 ms at
 * p99. We take the upper end of that p99. Per-request transfer as S3 Standard.
 */
export const s3Express: LatencyModel = { name: 'S3 Express One Zone PUT/GET', p50Ms: 5, p99Ms: 15, bytesPerMs: (100 * 1024 * 1024) / 1000 };
export const dynamoDb: LatencyModel = { name: 'DynamoDB', p50Ms: 5, p99Ms: 20, bytesPerMs: 0 };

/** The models an agent can run over (bench/support/agent.ts, BENCH_MODEL): object store and metadata store. */
export const storageModels = {
  s3: { objects: s3Standard, metadata: dynamoDb },
  s3express: { objects: s3Express, metadata: dynamoDb },
} as const satisfies Record<string, { objects: LatencyModel; metadata: LatencyModel }>;
export type StorageModelName = keyof typeof storageModels;

/** One line naming a model's parameters, for a benchmark's output. */
export function describeModel(model: LatencyModel): string {
  const transfer = model.bytesPerMs > 0 ? ` + ${(model.bytesPerMs * 1000) / 1024 / 1024} MiB/s per request` : '';
  return `${model.name} p50 ${model.p50Ms} ms, p99 ${model.p99Ms} ms${transfer}`;
}

/** The stores behind the named model's delays (log-normal, seeded). */
export function modelledStores(
  stores: { objects: ObjectStore; metadata: MetadataStore },
  name: StorageModelName,
  seed: number,
): { objects: ObjectStore; metadata: MetadataStore } {
  const random = seededRandom(seed);
  const model = storageModels[name];
  return {
    objects: new SlowObjectStore(stores.objects, model.objects, random),
    metadata: new SlowMetadataStore(stores.metadata, model.metadata, random),
  };
}

const z99 = 2.326;

/** A seeded PRNG (mulberry32), so runs draw the same delays. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sampler(model: LatencyModel, random: () => number): (bytes?: number) => number {
  const mu = Math.log(model.p50Ms);
  const sigma = Math.log(model.p99Ms / model.p50Ms) / z99;
  return (bytes = 0) => {
    // Box–Muller for a standard normal draw.
    const u = Math.max(random(), 1e-12);
    const v = random();
    const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return Math.exp(mu + sigma * normal) + (model.bytesPerMs > 0 ? bytes / model.bytesPerMs : 0);
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class SlowObjectStore extends DelegatingObjectStore {
  private readonly delay: (bytes?: number) => number;
  constructor(inner: ObjectStore, model: LatencyModel, random: () => number) {
    super(inner);
    this.delay = sampler(model, random);
  }
  override async put(key: string, body: Uint8Array) {
    await sleep(this.delay(body.length));
    return super.put(key, body);
  }
  override async get(key: string, range?: ByteRange) {
    const bytes = await super.get(key, range);
    await sleep(this.delay(bytes.length));
    return bytes;
  }
  override async head(key: string): Promise<ObjectInfo | undefined> {
    await sleep(this.delay());
    return super.head(key);
  }
}

export class SlowMetadataStore extends DelegatingMetadataStore {
  private readonly delay: () => number;
  constructor(inner: MetadataStore, model: LatencyModel, random: () => number) {
    super(inner);
    this.delay = sampler(model, random);
  }
  override async get(key: ItemKey): Promise<Item | undefined> {
    await sleep(this.delay());
    return super.get(key);
  }
  override async query(pk: string, options?: QueryOptions): Promise<Item[]> {
    await sleep(this.delay());
    return super.query(pk, options);
  }
  override async write(op: WriteOp) {
    await sleep(this.delay());
    return super.write(op);
  }
  override async transact(ops: readonly WriteOp[]) {
    await sleep(this.delay());
    return super.transact(ops);
  }
}
