/**
 * Segment uploads with hedging, the remedy AWS recommends for S3's latency tail: when a PUT has taken
 * longer than most recent PUTs (the 90th percentile of the last 256, at least `minDelayMs`), the same
 * bytes are PUT again under a sibling key, and whichever lands first is used. Keys are unique, so the
 * two never collide; the losing copy is deleted once it lands (and if that fails, it is an orphan that
 * maintenance collects, like any uncommitted object). Commits are ordered by flush, so one slow PUT
 * delays every flush behind it: cutting the tail of single PUTs cuts the produce tail.
 */
import type { ObjectStore } from '../storage/ports.js';

export interface HedgeOptions {
  /** Never hedge sooner than this. @default 50 */
  readonly minDelayMs?: number;
  /** 0 disables hedging. @default 256 */
  readonly window?: number;
  readonly now?: () => number;
}

const quantile = 0.9;
const minSamples = 20;

export class HedgedPut {
  readonly stats = { puts: 0, hedges: 0, hedgeWins: 0 };
  private readonly recentMs: number[] = [];
  private next = 0;
  private readonly minDelayMs: number;
  private readonly window: number;
  private readonly now: () => number;

  constructor(
    private readonly objects: ObjectStore,
    options: HedgeOptions = {},
  ) {
    this.minDelayMs = options.minDelayMs ?? 50;
    this.window = options.window ?? 256;
    this.now = options.now ?? performance.now.bind(performance);
  }

  /** Stores `body` and answers the key it landed under. */
  async put(key: string, body: Uint8Array): Promise<string> {
    this.stats.puts++;
    const started = this.now();
    const first = this.objects.put(key, body).then(() => this.record(started, key));
    const delayMs = this.delayMs();
    if (delayMs === undefined) return first;
    let timer: NodeJS.Timeout | undefined;
    const hedgeDue = new Promise<'hedge'>((resolve) => (timer = setTimeout(() => resolve('hedge'), delayMs)));
    const early = await Promise.race([first, hedgeDue]).finally(() => clearTimeout(timer));
    if (early !== 'hedge') return early;

    this.stats.hedges++;
    const hedgeKey = `${key}.h`;
    const second = this.objects.put(hedgeKey, body).then(() => this.record(started, hedgeKey));
    const winner = await Promise.any([first, second]).catch((error: AggregateError) => {
      throw error.errors[0];
    });
    if (winner === hedgeKey) this.stats.hedgeWins++;
    const loser = winner === key ? second : first;
    void loser
      .then(
        (landed) => this.objects.delete([landed]),
        () => undefined,
      )
      .catch(() => undefined);
    return winner;
  }

  /** The hedge delay, once enough PUTs have been seen to know what "slow" is. */
  delayMs(): number | undefined {
    if (this.window === 0 || this.recentMs.length < minSamples) return undefined;
    const sorted = [...this.recentMs].sort((a, b) => a - b);
    return Math.max(this.minDelayMs, sorted[Math.floor(quantile * (sorted.length - 1))]!);
  }

  private record(startedMs: number, key: string): string {
    if (this.window > 0) {
      this.recentMs[this.next] = this.now() - startedMs;
      this.next = (this.next + 1) % this.window;
    }
    return key;
  }
}
