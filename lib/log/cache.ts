/**
 * Recent chunks in memory, so tail reads do not touch the object store. Keyed by (object, position,
 * size): objects are immutable, so an entry can never be stale. Bounded by bytes (LRU).
 * Writers insert what they just committed; readers insert what they fetched.
 */
import { LRUCache } from 'lru-cache';

export class ChunkCache {
  private readonly lru: LRUCache<string, Buffer> | undefined;
  readonly stats = { hits: 0, misses: 0 };

  constructor(readonly maxBytes: number) {
    this.lru =
      maxBytes > 0 ? new LRUCache<string, Buffer>({ maxSize: maxBytes, sizeCalculation: (value) => Math.max(1, value.length) }) : undefined;
  }

  get(objectKey: string, position: number, sizeBytes: number): Buffer | undefined {
    const hit = this.lru?.get(cacheKey(objectKey, position, sizeBytes));
    if (hit) this.stats.hits++;
    else this.stats.misses++;
    return hit;
  }

  set(objectKey: string, position: number, bytes: Buffer): void {
    if (this.lru && bytes.length <= this.maxBytes) this.lru.set(cacheKey(objectKey, position, bytes.length), bytes);
  }

  get sizeBytes(): number {
    return this.lru?.calculatedSize ?? 0;
  }
}

function cacheKey(objectKey: string, position: number, sizeBytes: number): string {
  return `${objectKey}@${position}+${sizeBytes}`;
}
