/**
 * What the tests of Kafka's group protocols on an agent share: a clock whose timers run only when the
 * test moves it, a cluster view the test switches, and the group handlers called through their
 * codecs (bytes and back), so each answer is what a client of that version reads.
 */
import { isLater, type ApiHandler } from '../../lib/kafka/api.js';
import type { Scheduler } from '../../lib/kafka/classic-groups.js';
import type { BrokerNode, ClusterView } from '../../lib/kafka/cluster.js';
import { messagePairFor } from '../../lib/kafka/protocol/index.js';
import { KafkaReader, KafkaWriter } from '../../lib/kafka/wire.js';

/** Timers that run only when the test moves the clock. */
export class ManualClock implements Scheduler {
  private nowMs = Date.now();
  private readonly tasks: { atMs: number; run: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.nowMs;
  }

  schedule(delayMs: number, run: () => void): () => void {
    const task = { atMs: this.nowMs + delayMs, run, cancelled: false };
    this.tasks.push(task);
    return () => void (task.cancelled = true);
  }

  /** Moves time forward, running each timer due on the way, in order, and what it sets off. */
  async advance(ms: number): Promise<void> {
    const until = this.nowMs + ms;
    for (;;) {
      await settle();
      const due = this.tasks.filter((t) => !t.cancelled && t.atMs <= until).sort((a, b) => a.atMs - b.atMs)[0];
      if (!due) break;
      this.tasks.splice(this.tasks.indexOf(due), 1);
      this.nowMs = Math.max(this.nowMs, due.atMs);
      due.run();
    }
    this.nowMs = until;
    await settle();
  }
}

/** Lets store operations (memory adapter: promises only) and what they set off run to the end. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** One agent's view of the cluster: it coordinates every group while `coordinating`. */
export class FakeCluster implements ClusterView {
  coordinating = true;
  readonly clusterId = 'test-cluster';
  constructor(readonly self: BrokerNode) {}
  async brokers() {
    return [this.self];
  }
  async coordinatorFor() {
    return this.self;
  }
  async coordinates() {
    return this.coordinating;
  }
}

export const node = (nodeId: number): BrokerNode => ({ nodeId, host: `agent-${nodeId}`, port: 9092, rack: null });

/**
 * The handlers by API name; each call answers once the request completes. Requests and answers go
 * through the served codecs (bytes and back), so a field left out is the schema's default and the
 * answer is what a client of that version reads.
 */
export function api(handlers: ApiHandler<any, any>[]) {
  const byName = new Map(handlers.map((h) => [h.codec.name, h]));
  return async (name: string, request: unknown, version: number, clientId = 'test-client'): Promise<any> => {
    const handler = byName.get(name)!;
    const pair = messagePairFor(handler.codec.key)!;
    const flexible = pair.flexibleFrom !== undefined && version >= pair.flexibleFrom;
    const written = new KafkaWriter(flexible);
    pair.encodeRequest(written, version, request);
    const decoded = handler.codec.decodeRequest(new KafkaReader(Buffer.concat(written.finish()), flexible), version);
    const handled = await handler.handle(decoded, {
      apiVersion: version,
      clientId,
      clientHost: '127.0.0.1',
      principal: undefined,
      sasl: { mechanisms: [], mechanism: () => undefined, handshake: () => undefined, authenticate: async () => undefined },
      signal: new AbortController().signal,
      connection: {},
    });
    const answer = isLater(handled) ? await handled.later : handled;
    const answered = new KafkaWriter(flexible);
    handler.codec.encodeResponse(answered, version, answer);
    return pair.decodeResponse(new KafkaReader(Buffer.concat(answered.finish()), flexible), version);
  };
}
export type Api = ReturnType<typeof api>;

/** A pending answer, checked without waiting. */
export function watch<T>(promise: Promise<T>) {
  const state: { value?: T } = {};
  void promise.then((value) => (state.value = value));
  return state;
}
