/**
 * WriteTxnMarkers v0-2, as Kafka's partition leader serves it to an operator: the ABORT marker of
 * `Admin.abortTransaction` (`kafka-transactions.sh abort`, KIP-664), written into each named
 * partition for the named producer (Log.abortTransaction: its checks and its marker version).
 * Kafka's own coordinators send this API to write every marker; Spool's coordinator writes its
 * markers itself (lib/transactions), so only aborts are accepted: a COMMIT marker would make a
 * transaction's records visible without its coordinator's decision, and is INVALID_REQUEST.
 *
 * As in Kafka (checked against Apache Kafka 3.9.1 and 4.4.0): the request needs the cluster's
 * admin permission (Kafka's CLUSTER_ACTION; without it every partition answers
 * CLUSTER_AUTHORIZATION_FAILED); an unknown topic or partition answers UNKNOWN_TOPIC_OR_PARTITION;
 * an epoch older than the producer's INVALID_PRODUCER_EPOCH; a coordinator epoch older than the
 * last marker's TRANSACTION_COORDINATOR_FENCED; otherwise the marker is written and NONE answered,
 * whether or not the producer has a transaction open there (a repeat writes one more marker that
 * closes nothing, as Kafka's). A negative producer id or epoch, which Kafka answers
 * UNKNOWN_SERVER_ERROR, is INVALID_REQUEST. Each partition is answered on its own.
 */
import type { ApiHandler } from '../api.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import type { WriteTxnMarkersRequest, WriteTxnMarkersResponse } from '../protocol/messages/write-txn-markers.js';
import type { Encodable } from '../protocol/runtime.js';
import { codecs } from '../served.js';
import { permits, type BrokerDeps } from './deps.js';

export function writeTxnMarkersHandler({
  log,
  logger,
}: Pick<BrokerDeps, 'log' | 'logger'>): ApiHandler<WriteTxnMarkersRequest, Encodable<WriteTxnMarkersResponse>> {
  const { errorResponse } = codecs.writeTxnMarkers;
  return {
    codec: codecs.writeTxnMarkers,
    async handle(request, context) {
      if (!permits(context.principal, 'admin')) return errorResponse(request, context.apiVersion, KafkaErrors.CLUSTER_AUTHORIZATION_FAILED);
      const markers = await Promise.all(
        request.markers.map(async (marker) => ({
          producerId: marker.producerId,
          topics: await Promise.all(
            marker.topics.map(async (topic) => ({
              name: topic.name,
              partitions: await Promise.all(
                topic.partitionIndexes.map(async (partitionIndex) => {
                  if (marker.transactionResult) return { partitionIndex, errorCode: KafkaErrors.INVALID_REQUEST };
                  try {
                    await log.abortTransaction(topic.name, partitionIndex, marker);
                    return { partitionIndex, errorCode: KafkaErrors.NONE };
                  } catch (error) {
                    const mapped = kafkaErrorFor(error);
                    if (mapped.unexpected)
                      logger.log('error', 'kafka transaction abort failed', {
                        topic: topic.name,
                        partition: partitionIndex,
                        message: error instanceof Error ? error.message : String(error),
                      });
                    return { partitionIndex, errorCode: mapped.code };
                  }
                }),
              ),
            })),
          ),
        })),
      );
      return { markers };
    },
  };
}
