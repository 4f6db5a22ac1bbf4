/**
 * Consumer-group routes of the HTTP API, over lib/groups. Any instance can serve any request: the
 * group lives in the metadata store. Declared with their schemas, like every route.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { GroupCoordinator, MembershipView, OffsetView } from '../groups/coordinator.js';
import { toJsonRecord } from './records.js';
import * as s from './schemas.js';
import { errorResponses as errors, json } from './responses.js';
import type { Context } from 'hono';
import type { AppEnv, Authorize, AuthorizeGroup } from './app.js';
import { linkedSignal } from '../signals.js';

export function registerGroupRoutes(
  app: OpenAPIHono<AppEnv>,
  groups: GroupCoordinator,
  helpers: {
    shutdown?: AbortSignal;
    authorize: Authorize;
    authorizeGroup: AuthorizeGroup;
    /** Whether the request's principal may see `group` listed (describe on it). */
    readable: (c: Context<AppEnv>, group: string) => boolean;
  },
): void {
  // Permissions as Kafka's group ACLs (lib/auth.ts): acting as a member (join, heartbeat, poll,
  // leave), committing and resetting offsets need read on the group, and read on the topics
  // involved; describing the group and reading its offsets need describe; deleting it, delete. A
  // member id (a random UUID) is besides the capability to act as that member.
  const membership = (view: MembershipView) => ({
    member_id: view.memberId,
    generation: view.generation,
    assignments: view.assignments,
    revoking: view.revoking,
    state: view.state,
  });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/members',
      summary: 'Join a group (or rejoin with member_id); answers the member’s partitions',
      request: { params: s.GroupParams, body: { content: { 'application/json': { schema: s.JoinBody } }, required: true } },
      responses: { 200: json(s.MembershipOut, 'the membership'), ...errors(400, 404, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      helpers.authorizeGroup(c, 'read', c.req.valid('param').group);
      for (const topic of body.topics) helpers.authorize(c, 'read', topic);
      const view = await groups.join(c.req.valid('param').group, {
        topics: body.topics,
        memberId: body.member_id,
        sessionTimeoutMs: body.session_timeout_ms,
        autoOffsetReset: body.auto_offset_reset,
        assignor: body.assignor,
        autoCommit: body.auto_commit,
      });
      return c.json(membership(view), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/members/{member}/heartbeat',
      summary: 'Keep the membership alive; answers the current generation and partitions',
      request: { params: s.MemberParams },
      responses: { 200: json(s.MembershipOut, 'the membership'), ...errors(404, 409) },
    }),
    async (c) => {
      const { group, member } = c.req.valid('param');
      helpers.authorizeGroup(c, 'read', group);
      return c.json(membership(await groups.heartbeat(group, member)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/groups/{group}/members/{member}/records',
      summary: 'Poll records from the member’s partitions, resuming from the group’s positions',
      request: { params: s.MemberParams, query: s.PollQuery },
      responses: { 200: json(s.PollOut, 'records'), ...errors(400, 404, 409) },
    }),
    async (c) => {
      const { group, member } = c.req.valid('param');
      helpers.authorizeGroup(c, 'read', group);
      const query = c.req.valid('query');
      // A client that goes away before its records are ready must not have its positions advanced.
      const stop = linkedSignal([c.req.raw.signal, helpers.shutdown]);
      const polled = await groups.poll(group, member, { maxRecords: query.max_records, maxBytes: query.max_bytes, waitMs: query.wait_ms, signal: stop.signal }).finally(() => stop.dispose());
      const encoding = query.encoding ?? 'utf8';
      return c.json(
        {
          records: polled.records.map((r) => ({ topic: r.topic, partition: r.partition, ...toJsonRecord(r, encoding) })),
          generation: polled.generation,
          assignments: polled.assignments,
          revoking: polled.revoking,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/groups/{group}/members/{member}',
      summary: 'Leave the group (its partitions move at once)',
      request: { params: s.MemberParams },
      responses: { 204: { description: 'left' }, ...errors(404) },
    }),
    async (c) => {
      const { group, member } = c.req.valid('param');
      helpers.authorizeGroup(c, 'read', group);
      await groups.leave(group, member);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/offsets',
      summary: 'Commit offsets (the next offset to read), as a member of the current generation, or with no member while the group is empty',
      request: { params: s.GroupParams, body: { content: { 'application/json': { schema: s.CommitBody } }, required: true } },
      responses: { 204: { description: 'committed' }, ...errors(400, 404, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      helpers.authorizeGroup(c, 'read', c.req.valid('param').group);
      for (const { topic } of body.offsets) helpers.authorize(c, 'read', topic);
      await groups.commit(c.req.valid('param').group, { memberId: body.member_id, generation: body.generation, offsets: body.offsets });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/groups/{group}/offsets',
      summary: 'Committed offsets of the group',
      request: { params: s.GroupParams },
      responses: { 200: json(s.OffsetsOut, 'offsets'), ...errors(404) },
    }),
    async (c) => {
      helpers.authorizeGroup(c, 'describe', c.req.valid('param').group);
      const offsets = await groups.offsets(c.req.valid('param').group);
      for (const topic of new Set(offsets.map((o) => o.topic))) helpers.authorize(c, 'read', topic);
      return c.json(offsetsOut(offsets), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/groups/{group}/offsets/reset',
      summary: 'Reset committed offsets (only while the group has no live members)',
      request: { params: s.GroupParams, body: { content: { 'application/json': { schema: s.ResetBody } }, required: true } },
      responses: { 200: json(s.OffsetsOut, 'the new offsets'), ...errors(400, 404, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const { group } = c.req.valid('param');
      // As kafka-consumer-groups --reset-offsets, which commits: read on the group and on each topic reset.
      helpers.authorizeGroup(c, 'read', group);
      const topics = body.topics ?? [...new Set((await groups.offsets(group)).map((o) => o.topic))];
      for (const topic of topics) helpers.authorize(c, 'read', topic);
      const offsets = await groups.resetOffsets(group, body.to, topics);
      return c.json(offsetsOut(offsets), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/v1/groups', summary: 'List groups', responses: { 200: json(s.GroupListOut, 'groups') } }),
    async (c) => c.json({ groups: (await groups.list()).filter((g) => helpers.readable(c, g.group)) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/groups/{group}',
      summary: 'Describe a group: members, assignments, committed offsets, lag',
      request: { params: s.GroupParams },
      responses: { 200: json(s.GroupOut, 'the group'), ...errors(404) },
    }),
    async (c) => {
      helpers.authorizeGroup(c, 'describe', c.req.valid('param').group);
      const d = await groups.describe(c.req.valid('param').group);
      for (const topic of new Set(d.partitions.map((p) => p.topic))) helpers.authorize(c, 'read', topic);
      return c.json(
        {
          group: d.group,
          kind: d.kind,
          state: d.state,
          generation: d.generation,
          assignor: d.assignor,
          members: d.members.map((m) => ({
            member_id: m.memberId,
            topics: [...m.topics],
            assignments: m.assignments,
            last_heartbeat_ms: m.lastHeartbeatMs,
            session_timeout_ms: m.sessionTimeoutMs,
          })),
          partitions: d.partitions.map((p) => ({
            topic: p.topic,
            partition: p.partition,
            committed_offset: p.committed,
            high_watermark: p.highWatermark,
            lag: p.lag,
            member_id: p.owner,
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/groups/{group}',
      summary: 'Delete a group and its offsets (only while it has no live members)',
      request: { params: s.GroupParams },
      responses: { 204: { description: 'deleted' }, ...errors(404, 409) },
    }),
    async (c) => {
      helpers.authorizeGroup(c, 'delete', c.req.valid('param').group);
      await groups.deleteGroup(c.req.valid('param').group);
      return c.body(null, 204);
    },
  );
}

function offsetsOut(offsets: readonly OffsetView[]) {
  return { offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.committed })) };
}
