/**
 * The consumer-group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
 * OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups, OffsetDelete, over the classic
 * coordinator (classic-groups.ts), on their generated messages. Each advertises version 0 upwards
 * (librdkafka enables its balanced consumer only when the broker's ranges include the old versions)
 * up to the newest Kafka 4.x serves for classic groups. What a version changes is decided here, so
 * the coordinator sees one shape: FindCoordinator v4+ batches keys (one answer per key), LeaveGroup
 * v0–2 name one member, OffsetCommit/OffsetFetch v10 name topics by id, OffsetFetch v8+ asks for
 * several groups (each answered, or refused, on its own), DescribeGroups v6 reports an unknown group
 * as GROUP_ID_NOT_FOUND with a message (earlier versions: Dead, no error), and so a consumer-protocol
 * (KIP-848) group too, which it does not describe (groups/describe.ts); ListGroups v5 types each group
 * "classic" or "consumer".
 *
 * Errors: the coordinator's protocol answers (UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS, …) come
 * through as they are. A transient failure underneath (the store, a lease) is COORDINATOR_NOT_AVAILABLE
 * on these APIs, the answer a group client retries after looking the coordinator up again (the
 * general mapping's NOT_LEADER_OR_FOLLOWER or KAFKA_STORAGE_ERROR mean nothing to a group client).
 * Anything unexpected is rethrown for the server to log and answer UNKNOWN_SERVER_ERROR.
 *
 * Authorization, as Kafka's group ACLs (with SASL, lib/auth.ts): finding a group's coordinator,
 * describing it and reading its offsets need describe on the group; joining, syncing, heartbeats,
 * leaving and committing need read; DeleteGroups and OffsetDelete need delete (and OffsetDelete read
 * on each topic); ListGroups lists only the groups the principal may describe. A
 * refusal is GROUP_AUTHORIZATION_FAILED; topics are then checked as before (TOPIC_AUTHORIZATION_FAILED).
 */
import { SpoolError, type ErrorCode } from '../../errors.js';
import { later, type ApiHandler, type RequestContext } from '../api.js';
import { codecs } from '../served.js';
import { type ClassicGroups, errorJoin, GroupRefusal } from '../classic-groups.js';
import type { ClusterView } from '../cluster.js';
import { notFound } from '../groups/describe.js';
import type { DeleteGroupsRequest, DeleteGroupsResponse } from '../protocol/messages/delete-groups.js';
import type { DescribedGroup, DescribeGroupsRequest, DescribeGroupsResponse } from '../protocol/messages/describe-groups.js';
import type { Coordinator, FindCoordinatorRequest, FindCoordinatorResponse } from '../protocol/messages/find-coordinator.js';
import type { HeartbeatRequest, HeartbeatResponse } from '../protocol/messages/heartbeat.js';
import type { JoinGroupRequest, JoinGroupResponse } from '../protocol/messages/join-group.js';
import type { LeaveGroupRequest, LeaveGroupResponse, MemberIdentity } from '../protocol/messages/leave-group.js';
import type { ListGroupsRequest, ListGroupsResponse } from '../protocol/messages/list-groups.js';
import type { OffsetCommitRequest, OffsetCommitResponse } from '../protocol/messages/offset-commit.js';
import type { OffsetDeleteRequest, OffsetDeleteResponse } from '../protocol/messages/offset-delete.js';
import type {
  OffsetFetchRequest,
  OffsetFetchRequestGroup,
  OffsetFetchResponse,
  OffsetFetchResponseGroup,
} from '../protocol/messages/offset-fetch.js';
import type { SyncGroupRequest, SyncGroupResponse } from '../protocol/messages/sync-group.js';
import { type Encodable, ZERO_UUID } from '../protocol/runtime.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import type { ShareGroups } from '../share-groups.js';
import { memberClientHost, permits, permitsGroup, permitsTransactions } from './deps.js';

export interface GroupHandlerDeps {
  readonly groups: ClassicGroups;
  readonly cluster: ClusterView;
  /** Share groups (KIP-932), listed and deleted beside the others. @default none */
  readonly shareGroups?: ShareGroups;
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

/** The message to answer with, for versions that carry one: a refusal's or a SpoolError's own, never an internal one. */
function messageOf(error: unknown): string | null {
  return error instanceof GroupRefusal || error instanceof SpoolError ? error.message : null;
}

/** A group API's failure as Kafka's error code and message (transient ones: COORDINATOR_NOT_AVAILABLE); rethrows the unexpected. */
export function groupFailure(error: unknown): { errorCode: number; errorMessage: string | null } {
  return { errorCode: errorCodeOf(error), errorMessage: messageOf(error) };
}

/**
 * A handler whose work may wait (on a rebalance, or the store): it is accepted at once and answered
 * in order when done; a refusal becomes the API's error response (codec.errorResponse: the error for
 * every item the request names), unless the API answers refusals its own way (`refuse`).
 */
function groupApi<Request, Response>(
  codec: ApiHandler<Request, Response>['codec'],
  run: (request: Request, context: RequestContext) => Promise<Response>,
  /** The group the request acts on, and the group permission it needs; none for requests that check their own. */
  access?: { readonly group: (request: Request) => string; readonly action: 'read' | 'describe' | 'delete' },
  refuse?: (request: Request, errorCode: number, memberId?: string) => Response,
): ApiHandler<Request, Response> {
  return {
    codec,
    async handle(request, context) {
      const refused = (errorCode: number, memberId?: string) =>
        refuse ? refuse(request, errorCode, memberId) : codec.errorResponse(request, context.apiVersion, errorCode);
      if (access && !permitsGroup(context.principal, access.action, access.group(request)))
        return refused(KafkaErrors.GROUP_AUTHORIZATION_FAILED);
      return later(
        run(request, context).catch((error: unknown) =>
          refused(errorCodeOf(error), error instanceof GroupRefusal ? error.memberId : undefined),
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

const client = (context: RequestContext) => ({ clientId: context.clientId ?? '', clientHost: memberClientHost(context) });
const reads = (context: RequestContext) => (topic: string) => permits(context.principal, 'read', topic);

/** FindCoordinator's key types (0 group, 1 transaction; 2 share in Kafka 4.x, not served here). */
export const coordinatorKeyTypes = { group: 0, transaction: 1 } as const;

export function findCoordinatorHandler({
  cluster,
}: GroupHandlerDeps): ApiHandler<FindCoordinatorRequest, Encodable<FindCoordinatorResponse>> {
  const failed = (key: string, errorCode: number, errorMessage: string | null = null): Coordinator => ({
    key,
    nodeId: -1,
    host: '',
    port: -1,
    errorCode,
    errorMessage,
  });
  /** One key's answer: the agent holding the group's coordinator lease. */
  const find = async (key: string, keyType: number, context: RequestContext): Promise<Coordinator> => {
    // Any agent serves any transactional id (lib/transactions): the ids are only spread over the live agents.
    if (keyType === coordinatorKeyTypes.transaction) {
      if (!permitsTransactions(context.principal))
        return failed(key, KafkaErrors.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, `not allowed to use transactional id ${key}`);
      try {
        const node = await cluster.transactionCoordinatorFor(key);
        return { key, nodeId: node.nodeId, host: node.host, port: node.port, errorCode: KafkaErrors.NONE, errorMessage: null };
      } catch (error) {
        return failed(key, errorCodeOf(error), messageOf(error));
      }
    }
    if (keyType !== coordinatorKeyTypes.group) return failed(key, KafkaErrors.INVALID_REQUEST, `unknown coordinator key type ${keyType}`);
    if (!permitsGroup(context.principal, 'describe', key))
      return failed(key, KafkaErrors.GROUP_AUTHORIZATION_FAILED, `not allowed to describe group ${key}`);
    try {
      const node = await cluster.coordinatorFor(key);
      return { key, nodeId: node.nodeId, host: node.host, port: node.port, errorCode: KafkaErrors.NONE, errorMessage: null };
    } catch (error) {
      return failed(key, errorCodeOf(error), messageOf(error));
    }
  };
  /** v0–3 carry one key, answered in the top-level fields; v4+ a list, answered in `coordinators`. */
  const answer = (request: FindCoordinatorRequest, version: number, coordinators: readonly Coordinator[]) => {
    if (version >= 4) return { throttleTimeMs: 0, coordinators };
    const { errorCode, errorMessage, nodeId, host, port } = coordinators[0] ?? failed(request.key, KafkaErrors.INVALID_REQUEST);
    return { throttleTimeMs: 0, errorCode, errorMessage, nodeId, host, port };
  };
  return {
    codec: codecs.findCoordinator,
    async handle(request, context) {
      const keys = context.apiVersion >= 4 ? request.coordinatorKeys : [request.key];
      return answer(request, context.apiVersion, await Promise.all(keys.map((key) => find(key, request.keyType, context))));
    },
  };
}

export function joinGroupHandler({ groups }: GroupHandlerDeps): ApiHandler<JoinGroupRequest, Encodable<JoinGroupResponse>> {
  return groupApi(
    codecs.joinGroup,
    (request, context) =>
      groups.join(
        // v0 has no rebalance timeout: the session timeout serves as both, as in Kafka.
        context.apiVersion === 0 ? { ...request, rebalanceTimeoutMs: request.sessionTimeoutMs } : request,
        client(context),
        context.apiVersion,
      ),
    reading(),
    // The coordinator's refusals name the member (a new member's id comes with MEMBER_ID_REQUIRED).
    (request, errorCode, memberId): Encodable<JoinGroupResponse> => errorJoin(memberId ?? request.memberId, errorCode),
  );
}

export function syncGroupHandler({ groups }: GroupHandlerDeps): ApiHandler<SyncGroupRequest, Encodable<SyncGroupResponse>> {
  return groupApi(codecs.syncGroup, (request) => groups.sync(request), reading());
}

export function heartbeatHandler({ groups }: GroupHandlerDeps): ApiHandler<HeartbeatRequest, Encodable<HeartbeatResponse>> {
  return groupApi(
    codecs.heartbeat,
    async (request) => ({
      throttleTimeMs: 0,
      errorCode: await groups.heartbeat(request.groupId, request.memberId, request.groupInstanceId, request.generationId),
    }),
    reading(),
  );
}

/** The members a LeaveGroup names: v0–2 one, by member id; v3+ a list. */
const leaving = (request: LeaveGroupRequest, version: number): readonly MemberIdentity[] =>
  version >= 3 ? request.members : [{ memberId: request.memberId, groupInstanceId: null, reason: null }];

export function leaveGroupHandler({ groups }: GroupHandlerDeps): ApiHandler<LeaveGroupRequest, Encodable<LeaveGroupResponse>> {
  return groupApi<LeaveGroupRequest, Encodable<LeaveGroupResponse>>(
    codecs.leaveGroup,
    async (request, context) => {
      const answer = await groups.leave(request.groupId, leaving(request, context.apiVersion));
      // v0–2 name one member and answer only a top-level error: that member's, as Kafka's LeaveGroupResponse.
      return context.apiVersion < 3 ? { ...answer, errorCode: answer.members[0]!.errorCode } : answer;
    },
    reading(),
  );
}

export function offsetCommitHandler({ groups }: GroupHandlerDeps): ApiHandler<OffsetCommitRequest, Encodable<OffsetCommitResponse>> {
  return groupApi(codecs.offsetCommit, (request, context) => groups.commitOffsets(request, reads(context), context.apiVersion), reading());
}

/** The groups an OffsetFetch asks about: v0–7 one (top-level fields), v8+ a list. */
const fetchedGroups = (request: OffsetFetchRequest, version: number): readonly Pick<OffsetFetchRequestGroup, 'groupId' | 'topics'>[] =>
  version >= 8
    ? request.groups
    : [{ groupId: request.groupId, topics: request.topics?.map((t) => ({ ...t, topicId: ZERO_UUID })) ?? null }];

export function offsetFetchHandler({ groups }: GroupHandlerDeps): ApiHandler<OffsetFetchRequest, Encodable<OffsetFetchResponse>> {
  const failedGroup = (
    group: Pick<OffsetFetchRequestGroup, 'groupId' | 'topics'>,
    errorCode: number,
  ): Encodable<OffsetFetchResponseGroup> => ({
    groupId: group.groupId,
    errorCode,
    topics: (group.topics ?? []).map((topic) => ({
      name: topic.name,
      topicId: topic.topicId,
      partitions: topic.partitionIndexes.map((partitionIndex) => ({ partitionIndex, committedOffset: -1, metadata: '', errorCode })),
    })),
  });
  /** v0–7 answer their one group in the top-level fields (v0–1 carry no group error: each partition does). */
  const answer = (version: number, answered: readonly Encodable<OffsetFetchResponseGroup>[]): Encodable<OffsetFetchResponse> => {
    if (version >= 8) return { throttleTimeMs: 0, groups: answered };
    const [group] = answered;
    const errorCode = group?.errorCode ?? KafkaErrors.NONE;
    const topics = group?.topics ?? [];
    // v0–1 have no group-level error: as Kafka, each partition carries it.
    if (version < 2 && errorCode !== KafkaErrors.NONE)
      return { throttleTimeMs: 0, topics: topics.map((t) => ({ ...t, partitions: t.partitions?.map((p) => ({ ...p, errorCode })) })) };
    return { throttleTimeMs: 0, errorCode, topics };
  };
  return {
    codec: codecs.offsetFetch,
    async handle(request, context) {
      const version = context.apiVersion;
      const asked = fetchedGroups(request, version);
      return later(
        Promise.all(
          asked.map((group) =>
            permitsGroup(context.principal, 'describe', group.groupId)
              ? groups
                  .fetchOffsets(group, reads(context), version >= 10, version >= 7 && request.requireStable)
                  .catch((error: unknown) => failedGroup(group, errorCodeOf(error)))
              : failedGroup(group, KafkaErrors.GROUP_AUTHORIZATION_FAILED),
          ),
        ).then((answered) => answer(version, answered)),
      );
    },
  };
}

export function listGroupsHandler({
  groups,
  cluster,
  shareGroups,
}: GroupHandlerDeps): ApiHandler<ListGroupsRequest, Encodable<ListGroupsResponse>> {
  return groupApi(codecs.listGroups, async (request, context) => {
    // v4 filters by state, v5 by type; an empty filter lets every group through; both compare without case (states
    // also without surrounding spaces), as Kafka's GroupMetadataManager.listGroups: an unknown name matches no group.
    const states = new Set(request.statesFilter.map((s) => s.toLowerCase().trim()));
    const types = new Set(request.typesFilter.map((t) => t.toLowerCase()));
    // Share groups cost a read each: listed only when the filter lets them through.
    const shares = types.size === 0 || types.has('share') ? ((await shareGroups?.list()) ?? []) : [];
    const listed = [
      ...(await groups.list()),
      ...shares.map(({ groupId, groupState }) => ({ groupId, protocolType: 'share', groupState, groupType: 'share' })),
    ];
    const all = listed.filter(
      (group) =>
        permitsGroup(context.principal, 'describe', group.groupId) &&
        (states.size === 0 || states.has(group.groupState.toLowerCase())) &&
        (types.size === 0 || types.has(group.groupType)),
    );
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
  });
}

export function describeGroupsHandler({ groups }: GroupHandlerDeps): ApiHandler<DescribeGroupsRequest, Encodable<DescribeGroupsResponse>> {
  const failed = (groupId: string, errorCode: number, errorMessage: string | null = null): Encodable<DescribedGroup> => ({
    errorCode,
    errorMessage,
    groupId,
    groupState: '',
    protocolType: '',
    protocolData: '',
    members: [],
  });
  /** v6 reports a group that does not exist as GROUP_ID_NOT_FOUND (earlier versions: Dead, no error). */
  const asVersion = (group: DescribedGroup, version: number): Encodable<DescribedGroup> =>
    version >= 6 && group.errorCode === KafkaErrors.NONE && group.groupState === 'Dead'
      ? { ...group, errorCode: KafkaErrors.GROUP_ID_NOT_FOUND, errorMessage: group.errorMessage ?? notFound(group.groupId) }
      : { ...group, errorMessage: group.errorCode === KafkaErrors.NONE ? null : group.errorMessage };
  return groupApi(codecs.describeGroups, async (request, context) => ({
    throttleTimeMs: 0,
    groups: await Promise.all(
      request.groups.map((groupId) =>
        permitsGroup(context.principal, 'describe', groupId)
          ? groups.describe(groupId).then(
              (group) => asVersion(group, context.apiVersion),
              (error: unknown) => failed(groupId, errorCodeOf(error), messageOf(error)),
            )
          : failed(groupId, KafkaErrors.GROUP_AUTHORIZATION_FAILED, `not allowed to describe group ${groupId}`),
      ),
    ),
  }));
}

export function deleteGroupsHandler({
  groups,
  shareGroups,
}: GroupHandlerDeps): ApiHandler<DeleteGroupsRequest, Encodable<DeleteGroupsResponse>> {
  // A group that is no consumer group may be a share group (kafka-share-groups --delete).
  const deleteGroup = (groupId: string) =>
    groups.deleteGroup(groupId).catch((error: unknown) => {
      if (shareGroups && errorCodeOf(error) === KafkaErrors.GROUP_ID_NOT_FOUND) return shareGroups.deleteGroup(groupId);
      throw error;
    });
  return groupApi(codecs.deleteGroups, async (request, context) => ({
    throttleTimeMs: 0,
    // Each group on its own, as Kafka: one refused or missing does not stop the others.
    results: await Promise.all(
      request.groupsNames.map(async (groupId) => {
        if (!permitsGroup(context.principal, 'delete', groupId))
          return { groupId, errorCode: KafkaErrors.GROUP_AUTHORIZATION_FAILED, errorMessage: `not allowed to delete group ${groupId}` };
        try {
          await deleteGroup(groupId);
          return { groupId, errorCode: KafkaErrors.NONE, errorMessage: null };
        } catch (error) {
          return { groupId, errorCode: errorCodeOf(error), errorMessage: messageOf(error) };
        }
      }),
    ),
  }));
}

export function offsetDeleteHandler({ groups }: GroupHandlerDeps): ApiHandler<OffsetDeleteRequest, Encodable<OffsetDeleteResponse>> {
  return groupApi(codecs.offsetDelete, (request, context) => groups.deleteOffsets(request, reads(context)), {
    group: (request) => request.groupId,
    action: 'delete',
  });
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
    deleteGroupsHandler(deps),
    offsetDeleteHandler(deps),
  ];
}
