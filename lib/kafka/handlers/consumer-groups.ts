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
import { later, type ApiHandler } from '../api.js';
import { refusedDescribe, type ConsumerGroups } from '../consumer-groups.js';
import { KafkaErrors } from '../errors.js';
import type { ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse } from '../protocol/messages/consumer-group-describe.js';
import type { ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse } from '../protocol/messages/consumer-group-heartbeat.js';
import type { Encodable } from '../protocol/runtime.js';
import { codecs } from '../served.js';
import { memberClientHost, permitsDescribe, permitsGroup } from './deps.js';
import { groupFailure } from './groups.js';

export interface ConsumerGroupHandlerDeps {
  readonly consumerGroups: ConsumerGroups;
}

export function consumerGroupHeartbeatHandler({
  consumerGroups,
}: ConsumerGroupHandlerDeps): ApiHandler<ConsumerGroupHeartbeatRequest, Encodable<ConsumerGroupHeartbeatResponse>> {
  return {
    codec: codecs.consumerGroupHeartbeat,
    async handle(request, context) {
      // A refusal is the error and its message alone, as Kafka's coordinator answers (no member id or epoch).
      const refuse = (errorCode: number, errorMessage: string | null = null) =>
        codecs.consumerGroupHeartbeat.errorResponse(request, context.apiVersion, errorCode, errorMessage);
      if (!permitsGroup(context.principal, 'read', request.groupId)) return refuse(KafkaErrors.GROUP_AUTHORIZATION_FAILED);
      const hidden = (request.subscribedTopicNames ?? []).filter((name) => !permitsDescribe(context.principal, name));
      if (hidden.length > 0)
        return refuse(KafkaErrors.TOPIC_AUTHORIZATION_FAILED, `Not authorized to describe topics: ${hidden.join(', ')}.`);
      return later(
        consumerGroups
          .heartbeat(request, { clientId: context.clientId ?? '', clientHost: memberClientHost(context) }, context.apiVersion)
          .catch((error: unknown) => {
            const { errorCode, errorMessage } = groupFailure(error);
            return refuse(errorCode, errorMessage);
          }),
      );
    },
  };
}

export function consumerGroupDescribeHandler({
  consumerGroups,
}: ConsumerGroupHandlerDeps): ApiHandler<ConsumerGroupDescribeRequest, Encodable<ConsumerGroupDescribeResponse>> {
  return {
    codec: codecs.consumerGroupDescribe,
    async handle(request, context) {
      return later(
        Promise.all(
          request.groupIds.map(async (groupId) => {
            if (!permitsGroup(context.principal, 'describe', groupId))
              return refusedDescribe(groupId, KafkaErrors.GROUP_AUTHORIZATION_FAILED, null);
            try {
              return await consumerGroups.describe(groupId);
            } catch (error) {
              const { errorCode, errorMessage } = groupFailure(error);
              return refusedDescribe(groupId, errorCode, errorMessage);
            }
          }),
        ).then((groups) => ({ throttleTimeMs: 0, groups })),
      );
    },
  };
}
