/**
 * The consumer-group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
 * OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, over the classic coordinator
 * (classic-groups.ts). Each advertises version 0 upwards: librdkafka enables its balanced consumer
 * only when the broker's ranges include the old versions.
 *
 * Errors: the coordinator's protocol answers (UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS, …) come
 * through as they are. A transient failure underneath (the store, a lease) is COORDINATOR_NOT_AVAILABLE
 * on these APIs, the answer a group client retries after looking the coordinator up again (the
 * general mapping's NOT_LEADER_OR_FOLLOWER or KAFKA_STORAGE_ERROR mean nothing to a group client).
 * Anything unexpected is rethrown for the server to log and answer UNKNOWN_SERVER_ERROR.
 *
 * Authorization, as Kafka's group ACLs (with SASL, lib/auth.ts): finding a group's coordinator,
 * describing it and reading its offsets need describe on the group; joining, syncing, heartbeats,
 * leaving and committing need read; ListGroups lists only the groups the principal may describe. A
 * refusal is GROUP_AUTHORIZATION_FAILED; topics are then checked as before (TOPIC_AUTHORIZATION_FAILED).
 */
import { SpoolError, type ErrorCode } from '../../errors.js';
import { later, type ApiHandler, type RequestContext } from '../api.js';
import { codecs } from '../served.js';
import { type ClassicGroups, errorJoin, GroupRefusal } from '../classic-groups.js';
import type { ClusterView } from '../cluster.js';
import { operationsNotAsked, type DescribeGroupsRequest, type DescribeGroupsResponse } from '../apis/describe-groups.js';
import { coordinatorKeyTypes, type FindCoordinatorRequest, type FindCoordinatorResponse } from '../apis/find-coordinator.js';
import type { HeartbeatRequest, HeartbeatResponse } from '../apis/heartbeat.js';
import type { JoinGroupRequest, JoinGroupResponse } from '../apis/join-group.js';
import type { LeaveGroupRequest, LeaveGroupResponse } from '../apis/leave-group.js';
import type { ListGroupsRequest, ListGroupsResponse } from '../apis/list-groups.js';
import type { OffsetCommitRequest, OffsetCommitResponse } from '../apis/offset-commit.js';
import type { OffsetFetchRequest, OffsetFetchResponse } from '../apis/offset-fetch.js';
import type { SyncGroupRequest, SyncGroupResponse } from '../apis/sync-group.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import { permits, permitsGroup } from './deps.js';

export interface GroupHandlerDeps {
  readonly groups: ClassicGroups;
  readonly cluster: ClusterView;
}

/** The transient failures a group client should meet as COORDINATOR_NOT_AVAILABLE. */
const transient: ReadonlySet<ErrorCode> = new Set([
  'STORAGE_UNAVAILABLE',
  'THROTTLED',
  'TIMEOUT',
  'CONFLICT',
  'NOT_LEADER',
  'SHUTTING_DOWN',
]);

function errorCodeOf(error: unknown): number {
  if (error instanceof GroupRefusal) return error.errorCode;
  if (error instanceof SpoolError && transient.has(error.code)) return KafkaErrors.COORDINATOR_NOT_AVAILABLE;
  const { code, unexpected } = kafkaErrorFor(error);
  if (unexpected) throw error;
  return code;
}

/**
 * A handler whose work may wait (on a rebalance, or the store): it is accepted at once and answered
 * in order when done; a refusal becomes the API's all-error answer.
 */
function groupApi<Request, Response>(
  codec: ApiHandler<Request, Response>['codec'],
  refuse: (request: Request, errorCode: number, memberId?: string) => Response,
  run: (request: Request, context: RequestContext) => Promise<Response>,
  /** The group the request acts on, and the group permission it needs; none for requests that check their own. */
  access?: { readonly group: (request: Request) => string; readonly action: 'read' | 'describe' },
): ApiHandler<Request, Response> {
  return {
    codec,
    refuse,
    async handle(request, context) {
      if (access && !permitsGroup(context.principal, access.action, access.group(request)))
        return refuse(request, KafkaErrors.GROUP_AUTHORIZATION_FAILED);
      return later(
        run(request, context).catch((error: unknown) =>
          refuse(request, errorCodeOf(error), error instanceof GroupRefusal ? error.memberId : undefined),
        ),
      );
    },
  };
}

/** The permission the group APIs that act as a member need. */
const reading = <Request extends { readonly groupId: string }>() => ({
  group: (request: Request) => request.groupId,
  action: 'read' as const,
});

const client = (context: RequestContext) => ({ clientId: context.clientId ?? '', clientHost: context.clientHost });
const reads = (context: RequestContext) => (topic: string) => permits(context.principal, 'read', topic);

export function findCoordinatorHandler({ cluster }: GroupHandlerDeps): ApiHandler<FindCoordinatorRequest, FindCoordinatorResponse> {
  const refuse = (_request: FindCoordinatorRequest, errorCode: number, errorMessage: string | null = null): FindCoordinatorResponse => ({
    throttleTimeMs: 0,
    errorCode,
    errorMessage,
    nodeId: -1,
    host: '',
    port: -1,
  });
  return {
    codec: codecs.findCoordinator,
    refuse: (request, errorCode) => refuse(request, errorCode),
    async handle(request, context) {
      if (request.keyType !== coordinatorKeyTypes.group)
        return refuse(request, KafkaErrors.COORDINATOR_NOT_AVAILABLE, 'transactions are not supported');
      if (!permitsGroup(context.principal, 'describe', request.key))
        return refuse(request, KafkaErrors.GROUP_AUTHORIZATION_FAILED, `not allowed to describe group ${request.key}`);
      try {
        const node = await cluster.coordinatorFor(request.key);
        return {
          throttleTimeMs: 0,
          errorCode: KafkaErrors.NONE,
          errorMessage: null,
          nodeId: node.nodeId,
          host: node.host,
          port: node.port,
        };
      } catch (error) {
        return refuse(request, errorCodeOf(error), error instanceof SpoolError ? error.message : null);
      }
    },
  };
}

export function joinGroupHandler({ groups }: GroupHandlerDeps): ApiHandler<JoinGroupRequest, JoinGroupResponse> {
  return groupApi(
    codecs.joinGroup,
    (request, errorCode, memberId) => errorJoin(memberId ?? request.memberId, errorCode),
    (request, context) => groups.join(request, client(context), context.apiVersion),
    reading(),
  );
}

export function syncGroupHandler({ groups }: GroupHandlerDeps): ApiHandler<SyncGroupRequest, SyncGroupResponse> {
  return groupApi(
    codecs.syncGroup,
    (_request, errorCode) => ({ throttleTimeMs: 0, errorCode, assignment: Buffer.alloc(0) }),
    (request) => groups.sync(request),
    reading(),
  );
}

export function heartbeatHandler({ groups }: GroupHandlerDeps): ApiHandler<HeartbeatRequest, HeartbeatResponse> {
  return groupApi(
    codecs.heartbeat,
    (_request, errorCode) => ({ throttleTimeMs: 0, errorCode }),
    async (request) => ({ throttleTimeMs: 0, errorCode: await groups.heartbeat(request.groupId, request.memberId, request.generationId) }),
    reading(),
  );
}

export function leaveGroupHandler({ groups }: GroupHandlerDeps): ApiHandler<LeaveGroupRequest, LeaveGroupResponse> {
  return groupApi(
    codecs.leaveGroup,
    (request, errorCode) => ({ throttleTimeMs: 0, errorCode, members: request.members.map((member) => ({ ...member, errorCode })) }),
    (request) => groups.leave(request),
    reading(),
  );
}

export function offsetCommitHandler({ groups }: GroupHandlerDeps): ApiHandler<OffsetCommitRequest, OffsetCommitResponse> {
  return groupApi(
    codecs.offsetCommit,
    (request, errorCode) => ({
      throttleTimeMs: 0,
      topics: request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })),
      })),
    }),
    (request, context) => groups.commitOffsets(request, reads(context)),
    reading(),
  );
}

export function offsetFetchHandler({ groups }: GroupHandlerDeps): ApiHandler<OffsetFetchRequest, OffsetFetchResponse> {
  return groupApi(
    codecs.offsetFetch,
    (request, errorCode) => ({
      throttleTimeMs: 0,
      errorCode,
      topics: (request.topics ?? []).map((topic) => ({
        name: topic.name,
        partitions: topic.partitionIndexes.map((partitionIndex) => ({
          partitionIndex,
          committedOffset: -1,
          committedLeaderEpoch: -1,
          metadata: '',
          errorCode,
        })),
      })),
    }),
    (request, context) => groups.fetchOffsets(request, reads(context)),
    { group: (request) => request.groupId, action: 'describe' },
  );
}

export function listGroupsHandler({ groups, cluster }: GroupHandlerDeps): ApiHandler<ListGroupsRequest, ListGroupsResponse> {
  return groupApi(
    codecs.listGroups,
    (_request, errorCode) => ({ throttleTimeMs: 0, errorCode, groups: [] }),
    async (_request, context) => {
      const all = (await groups.list()).filter((group) => permitsGroup(context.principal, 'describe', group.groupId));
      // Each broker lists the groups it coordinates (an admin client asks them all and adds up the
      // answers). With one broker that is every group, found without taking a lease for each.
      if ((await cluster.brokers()).length <= 1) return { throttleTimeMs: 0, errorCode: KafkaErrors.NONE, groups: all };
      const mine = await Promise.all(
        all.map((group) =>
          cluster.coordinatorFor(group.groupId).then(
            (node) => node.nodeId === cluster.self.nodeId,
            () => false,
          ),
        ),
      );
      return { throttleTimeMs: 0, errorCode: KafkaErrors.NONE, groups: all.filter((_, index) => mine[index]) };
    },
  );
}

export function describeGroupsHandler({ groups }: GroupHandlerDeps): ApiHandler<DescribeGroupsRequest, DescribeGroupsResponse> {
  const failed = (groupId: string, errorCode: number) => ({
    errorCode,
    groupId,
    groupState: '',
    protocolType: '',
    protocolData: '',
    members: [],
    authorizedOperations: operationsNotAsked,
  });
  return groupApi(
    codecs.describeGroups,
    (request, errorCode) => ({ throttleTimeMs: 0, groups: request.groups.map((groupId) => failed(groupId, errorCode)) }),
    async (request, context) => ({
      throttleTimeMs: 0,
      groups: await Promise.all(
        request.groups.map((groupId) =>
          permitsGroup(context.principal, 'describe', groupId)
            ? groups.describe(groupId).catch((error: unknown) => failed(groupId, errorCodeOf(error)))
            : failed(groupId, KafkaErrors.GROUP_AUTHORIZATION_FAILED),
        ),
      ),
    }),
  );
}

/** Every consumer-group API handler, for the server's handler list. */
export function groupHandlers(deps: GroupHandlerDeps): ApiHandler<unknown, unknown>[] {
  return [
    findCoordinatorHandler(deps),
    joinGroupHandler(deps),
    syncGroupHandler(deps),
    heartbeatHandler(deps),
    leaveGroupHandler(deps),
    offsetCommitHandler(deps),
    offsetFetchHandler(deps),
    listGroupsHandler(deps),
    describeGroupsHandler(deps),
  ];
}
