/**
 * Every Kafka API this server serves, and the versions it serves of each: one table. Handlers take
 * their codec from here; ApiVersions answers what the registered handlers' codecs advertise; the
 * fuzz tests decode every entry at every version; the README's API table is generated from it.
 *
 * An entry is a generated message pair (protocol/messages/*.ts) narrowed with `served` to the
 * versions handled, or (until each moves to its generated pair) a hand-written codec in apis/.
 */
import type { ApiCodec } from './api.js';
import { served } from './api.js';
import { apiVersions } from './apis/api-versions.js';
import { createTopics } from './apis/create-topics.js';
import { deleteTopics } from './apis/delete-topics.js';
import { describeConfigs } from './apis/describe-configs.js';
import { describeGroups } from './apis/describe-groups.js';
import { findCoordinator } from './apis/find-coordinator.js';
import { heartbeat } from './apis/heartbeat.js';
import { initProducerId } from './apis/init-producer-id.js';
import { joinGroup } from './apis/join-group.js';
import { leaveGroup } from './apis/leave-group.js';
import { listGroups } from './apis/list-groups.js';
import { offsetCommit } from './apis/offset-commit.js';
import { offsetFetch } from './apis/offset-fetch.js';
import { produce } from './apis/produce.js';
import { saslAuthenticate, saslHandshake } from './apis/sasl.js';
import { syncGroup } from './apis/sync-group.js';
import { Fetch } from './protocol/messages/fetch.js';
import { ListOffsets } from './protocol/messages/list-offsets.js';
import { Metadata } from './protocol/messages/metadata.js';

export const codecs = {
  produce,
  fetch: served(Fetch, { min: 0, max: 18 }),
  listOffsets: served(ListOffsets, { min: 0, max: 11 }),
  metadata: served(Metadata, { min: 0, max: 13 }),
  offsetCommit,
  offsetFetch,
  findCoordinator,
  joinGroup,
  heartbeat,
  leaveGroup,
  syncGroup,
  describeGroups,
  listGroups,
  saslHandshake,
  apiVersions,
  createTopics,
  deleteTopics,
  initProducerId,
  describeConfigs,
  saslAuthenticate,
} as const;

/** Every served codec, by API key. */
export const servedCodecs: readonly ApiCodec<unknown, unknown>[] = (Object.values(codecs) as ApiCodec<unknown, unknown>[]).sort(
  (a, b) => a.key - b.key,
);
