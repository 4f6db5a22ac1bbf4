/**
 * What the tests of Kafka's group protocols on an agent share: a clock whose timers run only when the
 * test moves it, a cluster view the test switches, and the group handlers called through their
 * codecs (bytes and back), so each answer is what a client of that version reads.
 */
import { randomUUID } from 'node:crypto';
import { GroupCoordinator } from '../../lib/groups/coordinator.js';
import { isLater, type ApiHandler } from '../../lib/kafka/api.js';
import { ClassicGroups, type Scheduler } from '../../lib/kafka/classic-groups.js';
import { ConsumerGroups, type ConsumerGroupsOptions, type ConsumerGroupTimeouts } from '../../lib/kafka/consumer-groups.js';
import { consumerGroupDescribeHandler, consumerGroupHeartbeatHandler } from '../../lib/kafka/handlers/consumer-groups.js';
import type { BrokerNode, ClusterView } from '../../lib/kafka/cluster.js';
import { messagePairFor } from '../../lib/kafka/protocol/index.js';
import { groupHandlers } from '../../lib/kafka/handlers/groups.js';
import { KafkaReader, KafkaWriter } from '../../lib/kafka/wire.js';
import type { Log } from '../../lib/log/index.js';
import { closeAll, newLog, openTestStores, type TestStores } from './logs.js';
import type { StoreKind } from './stores.js';

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
  async release() {}
  async transactionCoordinatorFor() {
    return this.self;
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

const opened = { stores: [] as TestStores[], logs: [] as Log[], coordinators: [] as { close(): void }[] };

/** An agent that also coordinates KIP-848 consumer groups, the two coordinators wired as the broker wires them. */
export type ConsumerAgentOptions = ConsumerGroupTimeouts & Pick<ConsumerGroupsOptions, 'migrationPolicy'>;

/**
 * Stores of `kind`, a log with a fresh topic, the HTTP groups on a manual clock, and `agent(nodeId)`:
 * a classic coordinator on that node with its handlers called through their codecs. Closed by
 * `closeClassicGroupsSetups` (after each test).
 */
export async function classicGroupsSetup(kind: StoreKind, options: { partitions?: number; initialRebalanceDelayMs?: number } = {}) {
  const stores = await openTestStores(kind.locations());
  opened.stores.push(stores);
  const log = newLog(stores);
  opened.logs.push(log);
  const clock = new ManualClock();
  const http = new GroupCoordinator(log, stores.metadata, { now: () => clock.now() });
  const topic = `t-${randomUUID().slice(0, 8)}`;
  await log.createTopic(topic, options.partitions ?? 4);
  /** A classic coordinator on node `nodeId`; with `consumer`, a KIP-848 coordinator beside it (their handlers too). */
  const agent = (nodeId: number, consumer?: ConsumerAgentOptions) => {
    const cluster = new FakeCluster(node(nodeId));
    const consumerGroups =
      consumer === undefined
        ? undefined
        : new ConsumerGroups({
            log,
            metadata: stores.metadata,
            cluster,
            topicIdentities: http.topicIdentities,
            scheduler: clock,
            ...consumer,
          });
    const groups = new ClassicGroups({
      log,
      metadata: stores.metadata,
      groups: http,
      cluster,
      scheduler: clock,
      initialRebalanceDelayMs: options.initialRebalanceDelayMs ?? 0,
      minSessionTimeoutMs: 1000,
      consumer: consumerGroups,
      consumerClassic: consumerGroups,
    });
    consumerGroups?.convertsWith(groups);
    opened.coordinators.push(groups, ...(consumerGroups === undefined ? [] : [consumerGroups]));
    const handlers = [
      ...groupHandlers({ groups, cluster }),
      ...(consumerGroups === undefined
        ? []
        : [consumerGroupHeartbeatHandler({ consumerGroups }), consumerGroupDescribeHandler({ consumerGroups })]),
    ];
    return { cluster, groups, consumerGroups, api: api(handlers) };
  };
  return { stores, log, clock, http, topic, group: `g-${randomUUID().slice(0, 8)}`, agent };
}

export async function closeClassicGroupsSetups(): Promise<void> {
  for (const groups of opened.coordinators.splice(0)) groups.close();
  await closeAll(opened.logs.splice(0), opened.stores.splice(0));
}
