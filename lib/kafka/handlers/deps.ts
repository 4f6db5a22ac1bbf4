/** What the broker's handlers are built from. */
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import type { Log } from '../../log/index.js';
import type { Principal, RequestContext } from '../api.js';
import type { StoreCluster } from '../cluster.js';
import type { TransactionCoordinator } from '../../transactions/coordinator.js';
import type { QueueService } from '../../queues/service.js';

export interface BrokerDeps {
  readonly log: Log;
  readonly cluster: StoreCluster;
  readonly logger: Logger;
  /** Records and bytes produced and fetched, as the HTTP API counts them. */
  readonly metrics: Metrics;
  /** The transaction coordinator (any agent serves any transactional id). */
  readonly transactions: TransactionCoordinator;
  /** Share groups' queues (their settings are group configs). */
  readonly queues: QueueService;
}

/** Whether the connection may do `action` on `topic`: always on an open listener. */
export function permits(principal: Principal | undefined, action: 'read' | 'write' | 'admin', topic?: string): boolean {
  return principal === undefined || principal.allows(action, topic);
}

/**
 * Whether the connection may use transactional ids (Kafka's TRANSACTIONAL_ID WRITE): a principal that
 * may write to every topic, since an id has no grant of its own (a key scoped to some topics could
 * otherwise describe, end or fence another key's transactions); always on an open listener.
 */
export function permitsTransactions(principal: Principal | undefined): boolean {
  return permits(principal, 'write');
}

/** Whether the connection may see `topic` (Kafka's DESCRIBE, implied by read or write): always on an open listener. */
export function permitsDescribe(principal: Principal | undefined, topic: string): boolean {
  return permits(principal, 'read', topic) || permits(principal, 'write', topic);
}

/** Whether the connection may do `action` on the consumer group `group`: always on an open listener. */
export function permitsGroup(principal: Principal | undefined, action: 'read' | 'describe' | 'delete', group: string): boolean {
  return principal === undefined || principal.allowsGroup(action, group);
}

/** A group member's client host as Kafka reports it (Java's InetAddress.toString: "/127.0.0.1"), so Kafka's tools show the same. */
export function memberClientHost(context: Pick<RequestContext, 'clientHost'>): string {
  return `/${context.clientHost}`;
}
