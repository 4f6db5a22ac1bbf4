/**
 * KIP-932's share group APIs, over share-groups.ts: ShareGroupHeartbeat (76) v1, ShareGroupDescribe
 * (77) v1, ShareFetch (78) v1-2 and ShareAcknowledge (79) v1-2, the versions kafka-clients 4.2+
 * sends, and kafka-share-groups.sh's DescribeShareGroupOffsets (90) v0-1, AlterShareGroupOffsets
 * (91) v0 and DeleteShareGroupOffsets (92) v0 (ListGroups and DeleteGroups are groups.ts's). A transient failure underneath (the store) is COORDINATOR_NOT_AVAILABLE on a heartbeat,
 * which sends the member to find its coordinator again, and the request's top-level error on a
 * fetch or an acknowledgement, which the client retries (never a partition's: the client fails on
 * a partition error it does not expect); anything unexpected is rethrown for the server to log and
 * answer UNKNOWN_SERVER_ERROR.
 *
 * Authorization, as Kafka's: a heartbeat, fetch or acknowledgement needs read on the group
 * (GROUP_AUTHORIZATION_FAILED), a heartbeat naming topics describe on each of them, a fetch or
 * acknowledgement read on each topic (TOPIC_AUTHORIZATION_FAILED for that partition); describing
 * needs describe on the group (and on the topics named); altering offsets read on the group and the
 * topics, deleting them delete on the group and read on the topics.
 */
import { later, type ApiHandler, type RequestContext } from '../api.js';
import { KafkaErrors } from '../errors.js';
import type { AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse } from '../protocol/messages/alter-share-group-offsets.js';
import type { DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse } from '../protocol/messages/delete-share-group-offsets.js';
import type {
  DescribeShareGroupOffsetsRequest,
  DescribeShareGroupOffsetsResponse,
} from '../protocol/messages/describe-share-group-offsets.js';
import type { ShareAcknowledgeRequest, ShareAcknowledgeResponse } from '../protocol/messages/share-acknowledge.js';
import type { ShareFetchRequest, ShareFetchResponse } from '../protocol/messages/share-fetch.js';
import type { ShareGroupDescribeRequest, ShareGroupDescribeResponse } from '../protocol/messages/share-group-describe.js';
import type { ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse } from '../protocol/messages/share-group-heartbeat.js';
import type { Encodable } from '../protocol/runtime.js';
import { codecs } from '../served.js';
import type { ShareGroups } from '../share-groups.js';
import { memberClientHost, permits, permitsDescribe, permitsGroup } from './deps.js';
import { groupFailure } from './groups.js';

export function shareGroupHandlers(shareGroups: ShareGroups): ApiHandler<unknown, unknown>[] {
  return [
    heartbeatHandler(shareGroups),
    describeHandler(shareGroups),
    fetchHandler(shareGroups),
    acknowledgeHandler(shareGroups),
    describeOffsetsHandler(shareGroups),
    alterOffsetsHandler(shareGroups),
    deleteOffsetsHandler(shareGroups),
  ] as ApiHandler<unknown, unknown>[];
}

function describeOffsetsHandler(
  shareGroups: ShareGroups,
): ApiHandler<DescribeShareGroupOffsetsRequest, Encodable<DescribeShareGroupOffsetsResponse>> {
  return {
    codec: codecs.describeShareGroupOffsets,
    async handle(request, context) {
      return later(
        Promise.all(
          request.groups.map(async ({ groupId, topics }) => {
            const refuse = (errorCode: number, errorMessage: string | null) => ({ groupId, topics: [], errorCode, errorMessage });
            if (!permitsGroup(context.principal, 'describe', groupId)) return refuse(KafkaErrors.GROUP_AUTHORIZATION_FAILED, null);
            const hidden = (topics ?? []).map((t) => t.topicName).filter((name) => !permitsDescribe(context.principal, name));
            if (hidden.length > 0)
              return refuse(KafkaErrors.TOPIC_AUTHORIZATION_FAILED, `Not authorized to describe topics: ${hidden.join(', ')}.`);
            try {
              const described = await shareGroups.describeOffsets(groupId, topics);
              // Listing every topic the group read: only those the principal may see.
              return { ...described, topics: described.topics?.filter((t) => permitsDescribe(context.principal, t.topicName!)) };
            } catch (error) {
              const { errorCode, errorMessage } = groupFailure(error);
              return refuse(errorCode, errorMessage);
            }
          }),
        ).then((groups) => ({ throttleTimeMs: 0, groups })),
      );
    },
  };
}

function alterOffsetsHandler(
  shareGroups: ShareGroups,
): ApiHandler<AlterShareGroupOffsetsRequest, Encodable<AlterShareGroupOffsetsResponse>> {
  return {
    codec: codecs.alterShareGroupOffsets,
    async handle(request, context) {
      const refuse = (errorCode: number, errorMessage: string | null = null) => ({ errorCode, errorMessage, responses: [] });
      if (!permitsGroup(context.principal, 'read', request.groupId)) return refuse(KafkaErrors.GROUP_AUTHORIZATION_FAILED);
      if (request.topics.some((t) => !permits(context.principal, 'read', t.topicName)))
        return refuse(KafkaErrors.TOPIC_AUTHORIZATION_FAILED);
      return later(
        shareGroups.alterOffsets(request).catch((error: unknown) => {
          const { errorCode, errorMessage } = groupFailure(error);
          return refuse(errorCode, errorMessage);
        }),
      );
    },
  };
}

function deleteOffsetsHandler(
  shareGroups: ShareGroups,
): ApiHandler<DeleteShareGroupOffsetsRequest, Encodable<DeleteShareGroupOffsetsResponse>> {
  return {
    codec: codecs.deleteShareGroupOffsets,
    async handle(request, context) {
      const refuse = (errorCode: number, errorMessage: string | null = null) => ({ errorCode, errorMessage, responses: [] });
      if (!permitsGroup(context.principal, 'delete', request.groupId)) return refuse(KafkaErrors.GROUP_AUTHORIZATION_FAILED);
      if (request.topics.some((t) => !permits(context.principal, 'read', t.topicName)))
        return refuse(KafkaErrors.TOPIC_AUTHORIZATION_FAILED);
      return later(
        shareGroups.deleteOffsets(request).catch((error: unknown) => {
          const { errorCode, errorMessage } = groupFailure(error);
          return refuse(errorCode, errorMessage);
        }),
      );
    },
  };
}

function heartbeatHandler(shareGroups: ShareGroups): ApiHandler<ShareGroupHeartbeatRequest, Encodable<ShareGroupHeartbeatResponse>> {
  return {
    codec: codecs.shareGroupHeartbeat,
    async handle(request, context) {
      const refuse = (errorCode: number, errorMessage: string | null = null) =>
        codecs.shareGroupHeartbeat.errorResponse(request, context.apiVersion, errorCode, errorMessage);
      if (!permitsGroup(context.principal, 'read', request.groupId)) return refuse(KafkaErrors.GROUP_AUTHORIZATION_FAILED);
      const hidden = (request.subscribedTopicNames ?? []).filter((name) => !permitsDescribe(context.principal, name));
      if (hidden.length > 0)
        return refuse(KafkaErrors.TOPIC_AUTHORIZATION_FAILED, `Not authorized to describe topics: ${hidden.join(', ')}.`);
      return later(
        shareGroups
          .heartbeat(request, { clientId: context.clientId ?? '', clientHost: memberClientHost(context) })
          .catch((error: unknown) => {
            const { errorCode, errorMessage } = groupFailure(error);
            return refuse(errorCode, errorMessage);
          }),
      );
    },
  };
}

function describeHandler(shareGroups: ShareGroups): ApiHandler<ShareGroupDescribeRequest, Encodable<ShareGroupDescribeResponse>> {
  return {
    codec: codecs.shareGroupDescribe,
    async handle(request, context) {
      return later(
        Promise.all(
          request.groupIds.map(async (groupId) => {
            if (!permitsGroup(context.principal, 'describe', groupId))
              return { groupId, errorCode: KafkaErrors.GROUP_AUTHORIZATION_FAILED, errorMessage: null, groupState: '' };
            try {
              return await shareGroups.describe(groupId);
            } catch (error) {
              const { errorCode, errorMessage } = groupFailure(error);
              return { groupId, errorCode, errorMessage, groupState: '' };
            }
          }),
        ).then((groups) => ({ throttleTimeMs: 0, groups })),
      );
    },
  };
}

function fetchHandler(shareGroups: ShareGroups): ApiHandler<ShareFetchRequest, Encodable<ShareFetchResponse>> {
  return {
    codec: codecs.shareFetch,
    async handle(request, context) {
      if (request.groupId !== null && !permitsGroup(context.principal, 'read', request.groupId))
        return { errorCode: KafkaErrors.GROUP_AUTHORIZATION_FAILED, errorMessage: null, responses: [] };
      return later(
        shareGroups.fetch(request, client(context)).catch((error: unknown) => {
          const { errorCode, errorMessage } = groupFailure(error);
          return { errorCode, errorMessage, responses: [] };
        }),
      );
    },
  };
}

function acknowledgeHandler(shareGroups: ShareGroups): ApiHandler<ShareAcknowledgeRequest, Encodable<ShareAcknowledgeResponse>> {
  return {
    codec: codecs.shareAcknowledge,
    async handle(request, context) {
      if (request.groupId !== null && !permitsGroup(context.principal, 'read', request.groupId))
        return { errorCode: KafkaErrors.GROUP_AUTHORIZATION_FAILED, errorMessage: null, responses: [] };
      return later(
        shareGroups.acknowledge(request, client(context)).catch((error: unknown) => {
          const { errorCode, errorMessage } = groupFailure(error);
          return { errorCode, errorMessage, responses: [] };
        }),
      );
    },
  };
}

function client(context: RequestContext) {
  return {
    clientId: context.clientId ?? '',
    clientHost: memberClientHost(context),
    connection: context.connection,
    signal: context.signal,
    mayRead: (topic: string) => permits(context.principal, 'read', topic),
  };
}
