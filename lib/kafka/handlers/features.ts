/**
 * UpdateFeatures (`kafka-features.sh upgrade`): raises the cluster's finalized feature levels
 * (lib/log/features.ts), all of a request's updates or none, as Kafka's controller does. Kafka
 * requires ALTER on the cluster: here, an admin key. A level a live agent does not support, a feature
 * this version does not know, an upgrade type not known, a downgrade below the finalized level or a
 * "downgrade" above it answers INVALID_UPDATE_VERSION and changes nothing;
 * `kafka-features.sh describe` reads the levels through ApiVersions (metadata.ts).
 */
import { SpoolError } from '../../errors.js';
import type { FeatureUpdate } from '../../log/index.js';
import type { ApiHandler } from '../api.js';
import { KafkaErrors } from '../errors.js';
import type { UpdateFeaturesRequest, UpdateFeaturesResponse } from '../protocol/messages/update-features.js';
import type { Encodable } from '../protocol/runtime.js';
import { codecs } from '../served.js';
import { permits, type BrokerDeps } from './deps.js';

/** UpdateFeatures v1+'s upgrade types. */
const upgradeTypes: Readonly<Record<number, FeatureUpdate['kind']>> = { 1: 'upgrade', 2: 'safe-downgrade', 3: 'unsafe-downgrade' };

export function updateFeaturesHandler({
  log,
  logger,
}: Pick<BrokerDeps, 'log' | 'logger'>): ApiHandler<UpdateFeaturesRequest, Encodable<UpdateFeaturesResponse>> {
  return {
    codec: codecs.updateFeatures,
    async handle(request, context) {
      const answer = (errorCode: number, errorMessage: string | null): Encodable<UpdateFeaturesResponse> => ({
        errorCode,
        errorMessage,
        // v0–1 answer each feature too, with the request's outcome (v2 carries the top-level error only).
        results: request.featureUpdates.map(({ feature }) => ({ feature, errorCode, errorMessage })),
      });
      if (!permits(context.principal, 'admin')) return answer(KafkaErrors.CLUSTER_AUTHORIZATION_FAILED, 'ALTER on the cluster is required');
      if (request.featureUpdates.length === 0) return answer(KafkaErrors.INVALID_REQUEST, 'no feature updates were given');
      const updates: FeatureUpdate[] = [];
      for (const update of request.featureUpdates) {
        const kind = context.apiVersion === 0 ? (update.allowDowngrade ? 'safe-downgrade' : 'upgrade') : upgradeTypes[update.upgradeType];
        // As Kafka's controller: an upgrade type it does not know is the update's error.
        if (kind === undefined)
          return answer(
            KafkaErrors.INVALID_UPDATE_VERSION,
            `the upgrade type of ${update.feature} must be 1, 2 or 3, got ${update.upgradeType}`,
          );
        updates.push({ feature: update.feature, level: update.maxVersionLevel, kind });
      }
      try {
        const finalized = await log.features.update(updates, { validateOnly: request.validateOnly });
        if (!request.validateOnly)
          logger.log('info', 'feature levels updated', { epoch: finalized.epoch, levels: finalized.levels, client: context.clientId });
        return answer(KafkaErrors.NONE, null);
      } catch (error) {
        if (error instanceof SpoolError && error.code === 'INVALID_ARGUMENT')
          return answer(KafkaErrors.INVALID_UPDATE_VERSION, error.message);
        if (error instanceof SpoolError && error.code === 'CONFLICT') return answer(KafkaErrors.FEATURE_UPDATE_FAILED, error.message);
        throw error; // (the server answers it as the request's error, and logs what was unexpected)
      }
    },
  };
}
