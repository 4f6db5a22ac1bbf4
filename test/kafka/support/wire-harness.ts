/**
 * A Kafka listener for wire tests: stores (embedded unless named), a log over them, the HTTP
 * consumer groups over the same stores, and a listener on a free loopback port, started at a test
 * file's top level (`await useWireHarness(...)`) and closed after its tests. Further listeners over
 * the same log (`listen`: with SASL, metrics or smaller limits) see the same topics and groups.
 */
import { afterAll, expect } from 'vitest';
import { ApiKeys, type Permission } from '../../../lib/auth.js';
import { GroupCoordinator } from '../../../lib/groups/coordinator.js';
import { QueueService } from '../../../lib/queues/service.js';
import { type KafkaListener, type KafkaListenerOptions, startKafkaListener } from '../../../lib/kafka/broker.js';
import { KafkaErrors } from '../../../lib/kafka/errors.js';
import { encodeAssignment, encodeSubscription } from '../../../lib/kafka/groups/consumer-protocol.js';
import { JoinGroup } from '../../../lib/kafka/protocol/messages/join-group.js';
import { SaslAuthenticate } from '../../../lib/kafka/protocol/messages/sasl-authenticate.js';
import { SaslHandshake } from '../../../lib/kafka/protocol/messages/sasl-handshake.js';
import { SyncGroup } from '../../../lib/kafka/protocol/messages/sync-group.js';
import type { Log, LogOptions } from '../../../lib/log/index.js';
import { silentLogger } from '../../../lib/logger.js';
import { closeAll, newLog, openTestStores, type TestStores } from '../../support/logs.js';
import { embedded, type StoreKind } from '../../support/stores.js';
import { WireClient } from './wire-client.js';

/** Listener options a test may set: everything but the log and the stores, which are the harness's. */
export type ListenerOptions = Partial<Omit<KafkaListenerOptions, 'log' | 'metadata'>>;

export interface WireHarnessOptions {
  /** @default embedded */
  readonly stores?: StoreKind;
  /** On top of test/support/logs.ts's newLog defaults. */
  readonly log?: Partial<LogOptions>;
  /** The listener's; loopback, a free port, no logging and the harness's groups unless given. */
  readonly listener?: ListenerOptions;
}

export interface WireHarness {
  readonly stores: TestStores;
  readonly log: Log;
  /** The HTTP consumer groups over the same stores: the listener's unless its options name others. */
  readonly groups: GroupCoordinator;
  readonly listener: KafkaListener;
  /** Runs `run` with a client connected to the listener, closed after it. */
  withClient<T>(run: (client: WireClient) => Promise<T>): Promise<T>;
  /** A client connected to the listener until the harness closes. */
  connect(): Promise<WireClient>;
  /** Another listener over the same log and groups, with `options` (not the harness listener's); the caller closes it. */
  listen(options?: ListenerOptions): Promise<KafkaListener>;
  /**
   * Runs `run` with a client authenticated by SASL/PLAIN as a new API key `user` with `permissions`,
   * on a listener of its own that requires API keys; both closed after it.
   */
  withKey<T>(user: string, permissions: readonly Permission[], run: (client: WireClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function startWireHarness(options: WireHarnessOptions = {}): Promise<WireHarness> {
  const stores = await openTestStores((options.stores ?? embedded).locations());
  const log = newLog(stores, options.log);
  const groups = new GroupCoordinator(log, stores.metadata);
  const queues = new QueueService(log, stores.metadata);
  const listen = (over: ListenerOptions = {}) =>
    startKafkaListener({ log, metadata: stores.metadata, logger: silentLogger, host: '127.0.0.1', port: 0, groups, queues, ...over });
  const listener = await listen(options.listener);
  const clients: WireClient[] = [];
  return {
    stores,
    log,
    groups,
    listener,
    withClient: (run) => withClientAt(listener.bootstrap, run),
    connect: async () => {
      const client = await WireClient.open(listener.bootstrap);
      clients.push(client);
      return client;
    },
    listen,
    withKey: async (user, permissions, run) => {
      const keys = new ApiKeys(stores.metadata);
      const { key } = await keys.create(user, permissions);
      const secured = await listen({ apiKeys: keys });
      try {
        const client = await openAuthenticated(secured.bootstrap, user, key);
        try {
          return await run(client);
        } finally {
          client.close();
        }
      } finally {
        await secured.close();
      }
    },
    close: async () => {
      for (const client of clients.splice(0)) client.close();
      await listener.close();
      await closeAll([log], [stores]);
    },
  };
}

/** startWireHarness, closed by an afterAll hook: for a test file's top level. */
export async function useWireHarness(options: WireHarnessOptions = {}): Promise<WireHarness> {
  const harness = await startWireHarness(options);
  afterAll(() => harness.close());
  return harness;
}

/** Runs `run` with a client connected to `bootstrap`, closed after it. */
export async function withClientAt<T>(bootstrap: string, run: (client: WireClient) => Promise<T>): Promise<T> {
  const client = await WireClient.open(bootstrap);
  try {
    return await run(client);
  } finally {
    client.close();
  }
}

/**
 * A client of a listener with API keys (`listen({ apiKeys })`), authenticated with SASL/PLAIN as
 * `user` (SaslHandshake v1, SaslAuthenticate v1); asserts that both succeed.
 */
async function openAuthenticated(bootstrap: string, user: string, key: string): Promise<WireClient> {
  const client = await WireClient.open(bootstrap);
  try {
    expect((await client.callGenerated(SaslHandshake, 1, { mechanism: 'PLAIN' })).errorCode).toBe(0);
    expect((await client.callGenerated(SaslAuthenticate, 1, { authBytes: Buffer.from(`\u0000${user}\u0000${key}`) })).errorCode).toBe(0);
    return client;
  } catch (error) {
    client.close();
    throw error;
  }
}

/**
 * A classic consumer's JoinGroup v9, as a Kafka 4.x client sends it: sessions and rebalances of 10 s,
 * the range assignor, subscribed to `topics`.
 */
export function joinGroupV9(
  client: WireClient,
  groupId: string,
  memberId: string,
  topics: readonly string[],
  reason: string | null = null,
) {
  return client.callGenerated(JoinGroup, 9, {
    groupId,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    memberId,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: encodeSubscription({ topics }) }],
    reason,
  });
}

/**
 * One classic consumer joined (JoinGroup v9 as a Kafka 4.x client: MEMBER_ID_REQUIRED first, asserted)
 * and synced (SyncGroup v5) as the group's leader, owning partitions 0 to `partitions - 1` of `topic`.
 */
export async function stableClassicMember(
  client: WireClient,
  group: string,
  topic: string,
  partitions: number,
  reason: string | null = null,
) {
  const first = await joinGroupV9(client, group, '', [topic], reason);
  expect(first.errorCode).toBe(KafkaErrors.MEMBER_ID_REQUIRED);
  const joined = await joinGroupV9(client, group, first.memberId, [topic], reason);
  const assignment = encodeAssignment({ partitions: [{ topic, partitions: [...Array(partitions).keys()] }] });
  const synced = await client.callGenerated(SyncGroup, 5, {
    groupId: group,
    generationId: joined.generationId,
    memberId: joined.memberId,
    protocolType: 'consumer',
    protocolName: 'range',
    assignments: [{ memberId: joined.memberId, assignment }],
  });
  return { joined, synced, memberId: joined.memberId, generationId: joined.generationId };
}
