/**
 * The Kafka listener of an agent, assembled: the cluster registration, every API handler, and the
 * TCP server. The agent starts it beside the HTTP API over the same engine and group state.
 */
import { networkInterfaces } from 'node:os';
import type { ApiKeys } from '../auth.js';
import { SpoolError } from '../errors.js';
import type { GroupCoordinator } from '../groups/coordinator.js';
import type { QueueService } from '../queues/service.js';
import type { Logger } from '../logger.js';
import { noMetrics, type Metrics } from '../metrics.js';
import type { Log } from '../log/index.js';
import type { MetadataStore } from '../storage/ports.js';
import type { ApiHandler } from './api.js';
import { ClassicGroups, type ClassicGroupsOptions } from './classic-groups.js';
import { ConsumerGroups } from './consumer-groups.js';
import type { MigrationPolicy } from './groups/consumer-classic.js';
import { consumerGroupDescribeHandler, consumerGroupHeartbeatHandler } from './handlers/consumer-groups.js';
import { shareGroupHandlers } from './handlers/share-groups.js';
import { ShareGroups } from './share-groups.js';
import { StoreCluster } from './cluster.js';
import { groupHandlers } from './handlers/groups.js';
import { transactionHandlers } from './handlers/transactions.js';
import { writeTxnMarkersHandler } from './handlers/write-txn-markers.js';
import { TransactionCoordinator, type CoordinatorOptions } from '../transactions/coordinator.js';
import { TransactionStore } from '../transactions/store.js';
import { commitTransactionalOffsets } from '../groups/classic.js';
import { clearPendingOffsets } from '../groups/items.js';
import { tpKey } from '../groups/assignors.js';
import { transactionKey } from '../keys.js';
import {
  createPartitionsHandler,
  createTopicsHandler,
  deleteRecordsHandler,
  deleteTopicsHandler,
  describeClusterHandler,
  describeLogDirsHandler,
  describeTopicPartitionsHandler,
} from './handlers/admin.js';
import { alterConfigsHandler, describeConfigsHandler, incrementalAlterConfigsHandler } from './handlers/configs.js';
import type { BrokerDeps } from './handlers/deps.js';
import { fetchHandler, listOffsetsHandler } from './handlers/fetch.js';
import { updateFeaturesHandler } from './handlers/features.js';
import { apiVersionsHandler, metadataHandler } from './handlers/metadata.js';
import { describeProducersHandler, initProducerIdHandler, produceHandler } from './handlers/produce.js';
import { apiKeySasl, saslAuthenticateHandler, saslHandshakeHandler } from './handlers/sasl.js';
import { KafkaServer } from './server.js';

export interface KafkaListenerOptions {
  readonly log: Log;
  readonly logger: Logger;
  /** @default none */
  readonly metrics?: Metrics;
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** What clients are told to connect to; `auto`: this machine's first non-loopback IPv4 address (a container's task IP). @default the bound host */
  readonly advertisedHost?: string;
  readonly advertisedPort?: number;
  readonly maxRequestBytes?: number;
  /** Request bytes held at once across connections (see server.ts). @default 256 MiB */
  readonly maxBufferedBytes?: number;
  /** When set, clients must authenticate with SASL/PLAIN, an API key as the password. */
  readonly apiKeys?: ApiKeys;
  /** The metadata store the log is over: broker registrations and group coordination live there too. */
  readonly metadata: MetadataStore;
  /** The HTTP consumer groups over the same store: Kafka groups share their offsets and are described with them. */
  readonly groups: GroupCoordinator;
  /** The HTTP queues over the same store: Kafka share groups are the same share groups. */
  readonly queues: QueueService;
  /** Kafka's group.initial.rebalance.delay.ms and group.min/max.session.timeout.ms. @default 3000, 6000, 1 800 000 */
  readonly groupTimeouts?: Pick<ClassicGroupsOptions, 'initialRebalanceDelayMs' | 'minSessionTimeoutMs' | 'maxSessionTimeoutMs'>;
  /** Kafka's group.consumer.migration.policy: online upgrades of classic groups to consumer groups and back. @default bidirectional */
  readonly groupMigrationPolicy?: MigrationPolicy;
  /** Kafka's transaction.max.timeout.ms and transactional.id.expiration.ms; how soon a stalled end is carried on. */
  readonly transactions?: Pick<CoordinatorOptions, 'maxTimeoutMs' | 'idExpirationMs' | 'stalledAfterMs'>;
  /** How often the agent sweeps transactions (timeouts, stalled ends). @default 10 000 (Kafka's transaction.abort.timed.out.transaction.cleanup.interval.ms) */
  readonly transactionSweepIntervalMs?: number;
  /** The feature levels a new cluster starts at (StoreClusterOptions). @default newestLevels */
  readonly initialFeatures?: Readonly<Record<string, number>>;
}

export interface KafkaListener {
  readonly cluster: StoreCluster;
  /** host:port as advertised, for clients' bootstrap.servers. */
  readonly bootstrap: string;
  close(): Promise<void>;
}

export async function startKafkaListener(options: KafkaListenerOptions): Promise<KafkaListener> {
  let server: KafkaServer | undefined;
  const handlers = (deps: BrokerDeps): ApiHandler<unknown, unknown>[] => [
    apiVersionsHandler(() => server!.versions, deps.log.features),
    metadataHandler(deps),
    produceHandler(deps),
    fetchHandler(deps),
    listOffsetsHandler(deps),
    initProducerIdHandler(deps),
    describeProducersHandler(deps),
    writeTxnMarkersHandler(deps),
    createTopicsHandler(deps),
    deleteTopicsHandler(deps),
    createPartitionsHandler(deps),
    deleteRecordsHandler(deps),
    describeLogDirsHandler(deps),
    describeClusterHandler(deps),
    updateFeaturesHandler(deps),
    describeTopicPartitionsHandler(deps),
    describeConfigsHandler(deps),
    alterConfigsHandler(deps),
    incrementalAlterConfigsHandler(deps),
    saslHandshakeHandler(),
    saslAuthenticateHandler(),
    ...groupHandlers({ groups: classic, cluster: deps.cluster, shareGroups }),
    ...transactionHandlers({ transactions: deps.transactions, cluster: deps.cluster, groups: classic }),
    consumerGroupHeartbeatHandler({ consumerGroups }),
    consumerGroupDescribeHandler({ consumerGroups }),
    ...shareGroupHandlers(shareGroups),
  ];
  const advertisedHost = options.advertisedHost === 'auto' ? machineAddress() : (options.advertisedHost ?? options.host);
  const cluster = new StoreCluster(options.metadata, options.log, {
    advertisedHost,
    advertisedPort: options.advertisedPort,
    initialFeatures: options.initialFeatures,
  });
  const metrics = options.metrics ?? noMetrics;
  const transactions = new TransactionCoordinator(
    new TransactionStore(options.metadata, () => options.log.allocateProducerId()),
    options.log,
    {
      commitTransactionalOffsets: (group, offsets, decision) =>
        commitTransactionalOffsets(
          options.metadata,
          group,
          offsets.map((o) => ({ key: tpKey(o.topic, o.partition), topicId: o.topicId, offset: o.offset, metadata: o.metadata })),
          Date.now(),
          { key: transactionKey(decision.transactionalId), version: decision.version },
        ),
      abortTransactionalOffsets: (group, offsets, transactionalId) =>
        clearPendingOffsets(
          options.metadata,
          group,
          offsets.map((o) => tpKey(o.topic, o.partition)),
          transactionalId,
        ),
    },
    { logger: options.logger, ...options.transactions },
  );
  const deps: BrokerDeps = { log: options.log, logger: options.logger, cluster, metrics, transactions, queues: options.queues };
  // The coordinator's housekeeping (timeouts, stalled ends, expired ids): every agent runs it; it is safe concurrently.
  const sweepIntervalMs = options.transactionSweepIntervalMs ?? 10_000;
  let sweeping: Promise<unknown> | undefined;
  const sweeper = setInterval(() => {
    sweeping ??= transactions
      .sweep()
      .catch((error: unknown) =>
        options.logger.log('warn', 'transaction sweep failed', { message: error instanceof Error ? error.message : String(error) }),
      )
      .finally(() => (sweeping = undefined));
  }, sweepIntervalMs);
  sweeper.unref();
  // KIP-848 groups (ConsumerGroupHeartbeat), coordinated by the same lease as classic groups.
  const consumerGroups = new ConsumerGroups({
    log: options.log,
    metadata: options.metadata,
    cluster,
    topicIdentities: options.groups.topicIdentities,
    logger: options.logger,
    migrationPolicy: options.groupMigrationPolicy,
  });
  const classic = new ClassicGroups({
    log: options.log,
    metadata: options.metadata,
    groups: options.groups,
    cluster,
    logger: options.logger,
    consumer: consumerGroups,
    consumerClassic: consumerGroups,
    transactionalOffsetPending: (transactionalId) => transactions.heldOffsets(transactionalId),
    ...options.groupTimeouts,
  });
  consumerGroups.convertsWith(classic);
  // KIP-932 share groups: the same queues as the HTTP API's (lib/queues), over the same store.
  const shareGroups = new ShareGroups(options.log, options.metadata, options.queues);
  server = new KafkaServer({
    handlers: handlers(deps),
    logger: options.logger,
    metrics,
    maxRequestBytes: options.maxRequestBytes,
    maxBufferedBytes: options.maxBufferedBytes,
    sasl: options.apiKeys ? apiKeySasl(options.apiKeys) : undefined,
  });
  // The bound port is known only after listening; the registration that advertises it follows at once.
  const address = await server.listen(options.host, options.port);
  await cluster.start(address.port);
  const advertisedPort = cluster.self.port;
  return {
    cluster,
    bootstrap: `${advertisedHost.includes(':') ? `[${advertisedHost}]` : advertisedHost}:${advertisedPort}`,
    close: async () => {
      // Requests held open by a rebalance are answered first, so connections can drain.
      clearInterval(sweeper);
      await sweeping;
      classic.close();
      consumerGroups.close();
      await server!.close();
      // After the server: its long polls have ended, so no session acquires after it is released.
      await shareGroups.closeAll();
      await cluster.stop();
    },
  };
}

/** The first non-internal IPv4 address of this machine: what other hosts in its network reach it by. */
function machineAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((candidate) => candidate !== undefined && candidate.family === 'IPv4' && !candidate.internal);
  if (!address)
    throw new SpoolError(
      'INVALID_CONFIG',
      'SPOOL_KAFKA_ADVERTISED_HOST=auto found no non-loopback IPv4 address on this machine; set the host explicitly',
    );
  return address.address;
}
