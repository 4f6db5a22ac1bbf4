/**
 * KIP-848's consumer group APIs: ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69), v0–1, over
 * the consumer-protocol coordinator (consumer-groups.ts). The protocol's own answers (UNKNOWN_MEMBER_ID,
 * FENCED_MEMBER_EPOCH, UNRELEASED_INSTANCE_ID, INVALID_REQUEST, UNSUPPORTED_ASSIGNOR, …) come through
 * with their messages; a transient failure underneath (the store, a lease) is COORDINATOR_NOT_AVAILABLE,
 * which the client answers by finding the coordinator again; anything unexpected is rethrown for the
 * server to log and answer UNKNOWN_SERVER_ERROR.
 *
 * Authorization, as Kafka's: a heartbeat needs read on the group, describing needs describe on it
 * (GROUP_AUTHORIZATION_FAILED otherwise); a heartbeat naming topics needs describe on each of them
 * (TOPIC_AUTHORIZATION_FAILED, the group unchanged). A regex subscription is resolved against every
 * topic, whoever may see it.
 */
import { SpoolError, type ErrorCode } from '../../errors.js';
import { later, type ApiHandler } from '../api.js';
import type { ConsumerGroups } from '../consumer-groups.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import type { ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse } from '../protocol/messages/consumer-group-describe.js';
import type { ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse } from '../protocol/messages/consumer-group-heartbeat.js';
import type { Encodable } from '../protocol/runtime.js';
import { codecs } from '../served.js';
import { memberClientHost, permitsDescribe, permitsGroup } from './deps.js';

export interface ConsumerGroupHandlerDeps {
  readonly consumerGroups: ConsumerGroups;
}

const transient: ReadonlySet<ErrorCode> = new Set([
  'STORAGE_UNAVAILABLE',
  'THROTTLED',
  'TIMEOUT',
  'CONFLICT',
  'NOT_LEADER',
  'SHUTTING_DOWN',
]);

function failure(error: unknown): { errorCode: number; errorMessage: string | null } {
  if (error instanceof SpoolError && transient.has(error.code))
    return { errorCode: KafkaErrors.COORDINATOR_NOT_AVAILABLE, errorMessage: error.message };
  const { code, unexpected } = kafkaErrorFor(error);
  if (unexpected) throw error;
  return { errorCode: code, errorMessage: error instanceof SpoolError ? error.message : null };
}

export function consumerGroupHeartbeatHandler({
  consumerGroups,
}: ConsumerGroupHandlerDeps): ApiHandler<ConsumerGroupHeartbeatRequest, Encodable<ConsumerGroupHeartbeatResponse>> {
  const refuse = (request: ConsumerGroupHeartbeatRequest, errorCode: number, errorMessage: string | null = null) => ({
    throttleTimeMs: 0,
    errorCode,
    errorMessage,
    memberId: request.memberId,
    memberEpoch: request.memberEpoch,
    heartbeatIntervalMs: 0,
    assignment: null,
  });
  return {
    codec: codecs.consumerGroupHeartbeat,
    refuse: (request, errorCode) => refuse(request, errorCode),
    async handle(request, context) {
      if (!permitsGroup(context.principal, 'read', request.groupId)) return refuse(request, KafkaErrors.GROUP_AUTHORIZATION_FAILED);
      const hidden = (request.subscribedTopicNames ?? []).filter((name) => !permitsDescribe(context.principal, name));
      if (hidden.length > 0)
        return refuse(request, KafkaErrors.TOPIC_AUTHORIZATION_FAILED, `Not authorized to describe topics: ${hidden.join(', ')}.`);
      return later(
        consumerGroups
          .heartbeat(request, { clientId: context.clientId ?? '', clientHost: memberClientHost(context) }, context.apiVersion)
          .catch((error: unknown) => {
            const { errorCode, errorMessage } = failure(error);
            return refuse(request, errorCode, errorMessage);
          }),
      );
    },
  };
}

export function consumerGroupDescribeHandler({
  consumerGroups,
}: ConsumerGroupHandlerDeps): ApiHandler<ConsumerGroupDescribeRequest, Encodable<ConsumerGroupDescribeResponse>> {
  const refused = (groupId: string, errorCode: number, errorMessage: string | null) => ({
    errorCode,
    errorMessage,
    groupId,
    groupState: '',
    groupEpoch: 0,
    assignmentEpoch: 0,
    assignorName: '',
    members: [],
  });
  return {
    codec: codecs.consumerGroupDescribe,
    refuse: (request, errorCode) => ({ throttleTimeMs: 0, groups: request.groupIds.map((id) => refused(id, errorCode, null)) }),
    async handle(request, context) {
      return later(
        Promise.all(
          request.groupIds.map(async (groupId) => {
            if (!permitsGroup(context.principal, 'describe', groupId))
              return refused(groupId, KafkaErrors.GROUP_AUTHORIZATION_FAILED, null);
            try {
              return await consumerGroups.describe(groupId);
            } catch (error) {
              const { errorCode, errorMessage } = failure(error);
              return refused(groupId, errorCode, errorMessage);
            }
          }),
        ).then((groups) => ({ throttleTimeMs: 0, groups })),
      );
    },
  };
}
