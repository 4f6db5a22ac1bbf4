/**
 * Consumer-group routes of the HTTP API, over lib/groups. Any instance can serve any request: the
 * group lives in the metadata store. Permissions as Kafka's group ACLs (lib/auth.ts): acting as a
 * member (join, heartbeat, poll, leave), committing and resetting offsets need read on the group,
 * and read on the topics involved (checked by the handler once it knows them); describing the group
 * and reading its offsets need describe, and read on its topics; deleting it, delete. A member id
 * (a random UUID) is besides the capability to act as that member.
 */
import type { GroupCoordinator, MembershipView, OffsetView } from '../groups/coordinator.js';
import { linkedSignal } from '../signals.js';
import { declareRoute, permitted, requireTopics } from './access.js';
import { newRouter } from './middleware.js';
import { toJsonRecord } from './records.js';
import { errorResponses as errors, json } from './responses.js';
import * as s from './schemas.js';

export function groupRoutes(groups: GroupCoordinator, shutdown: AbortSignal | undefined) {
  const app = newRouter();
  const membership = (view: MembershipView) => ({
    member_id: view.memberId,
    generation: view.generation,
    assignments: view.assignments,
    revoking: view.revoking,
    state: view.state,
  });

  app.openapi(
    declareRoute('post', '/v1/groups/{group}/members', {
      summary: 'Join a group (or rejoin with member_id); answers the member’s partitions',
      access: { group: 'read', from: 'param:group' },
      request: { params: s.GroupParams, body: { content: { 'application/json': { schema: s.JoinBody } }, required: true } },
      responses: { 200: json(s.MembershipOut, 'the membership'), ...errors(400, 404, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      requireTopics(c, 'read', body.topics);
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
    declareRoute('post', '/v1/groups/{group}/members/{member}/heartbeat', {
      summary: 'Keep the membership alive; answers the current generation and partitions',
      access: { group: 'read', from: 'param:group' },
      request: { params: s.MemberParams },
      responses: { 200: json(s.MembershipOut, 'the membership'), ...errors(404, 409) },
    }),
    async (c) => {
      const { group, member } = c.req.valid('param');
      return c.json(membership(await groups.heartbeat(group, member)), 200);
    },
  );

  app.openapi(
    declareRoute('get', '/v1/groups/{group}/members/{member}/records', {
      summary: 'Poll records from the member’s partitions, resuming from the group’s positions',
      access: { group: 'read', from: 'param:group' },
      request: { params: s.MemberParams, query: s.PollQuery },
      responses: { 200: json(s.PollOut, 'records'), ...errors(400, 404, 409) },
    }),
    async (c) => {
      const { group, member } = c.req.valid('param');
      const query = c.req.valid('query');
      // A client that goes away before its records are ready must not have its positions advanced.
      const stop = linkedSignal([c.req.raw.signal, shutdown]);
      const polled = await groups
        .poll(group, member, { maxRecords: query.max_records, maxBytes: query.max_bytes, waitMs: query.wait_ms, signal: stop.signal })
        .finally(() => stop.dispose());
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
    declareRoute('delete', '/v1/groups/{group}/members/{member}', {
      summary: 'Leave the group (its partitions move at once)',
      access: { group: 'read', from: 'param:group' },
      request: { params: s.MemberParams },
      responses: { 204: { description: 'left' }, ...errors(404) },
    }),
    async (c) => {
      const { group, member } = c.req.valid('param');
      await groups.leave(group, member);
      return c.body(null, 204);
    },
  );

  app.openapi(
    declareRoute('post', '/v1/groups/{group}/offsets', {
      summary:
        'Commit offsets (the next offset to read), as a member of the current generation, or with no member while the group is empty',
      access: { group: 'read', from: 'param:group' },
      request: { params: s.GroupParams, body: { content: { 'application/json': { schema: s.CommitBody } }, required: true } },
      responses: { 204: { description: 'committed' }, ...errors(400, 404, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      requireTopics(
        c,
        'read',
        body.offsets.map((o) => o.topic),
      );
      await groups.commit(c.req.valid('param').group, { memberId: body.member_id, generation: body.generation, offsets: body.offsets });
      return c.body(null, 204);
    },
  );

  app.openapi(
    declareRoute('get', '/v1/groups/{group}/offsets', {
      summary: 'Committed offsets of the group',
      access: { group: 'describe', from: 'param:group' },
      request: { params: s.GroupParams },
      responses: { 200: json(s.OffsetsOut, 'offsets'), ...errors(404) },
    }),
    async (c) => {
      const offsets = await groups.offsets(c.req.valid('param').group);
      requireTopics(c, 'read', new Set(offsets.map((o) => o.topic)));
      return c.json(offsetsOut(offsets), 200);
    },
  );

  app.openapi(
    declareRoute('post', '/v1/groups/{group}/offsets/reset', {
      summary: 'Reset committed offsets (only while the group has no live members)',
      access: { group: 'read', from: 'param:group' },
      request: { params: s.GroupParams, body: { content: { 'application/json': { schema: s.ResetBody } }, required: true } },
      responses: { 200: json(s.OffsetsOut, 'the new offsets'), ...errors(400, 404, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const { group } = c.req.valid('param');
      // As kafka-consumer-groups --reset-offsets, which commits: read on the group and on each topic reset.
      const topics = body.topics ?? [...new Set((await groups.offsets(group)).map((o) => o.topic))];
      requireTopics(c, 'read', topics);
      const offsets = await groups.resetOffsets(group, body.to, topics, body.dry_run ?? false);
      return c.json(offsetsOut(offsets), 200);
    },
  );

  app.openapi(
    declareRoute('get', '/v1/groups', {
      summary: 'List groups',
      access: { group: 'describe', from: 'listed' },
      responses: { 200: json(s.GroupListOut, 'groups') },
    }),
    async (c) => c.json({ groups: (await groups.list()).filter((g) => permitted(c, { group: 'describe' }, g.group)) }, 200),
  );

  app.openapi(
    declareRoute('get', '/v1/groups/{group}', {
      summary: 'Describe a group: members, assignments, committed offsets, lag',
      access: { group: 'describe', from: 'param:group' },
      request: { params: s.GroupParams },
      responses: { 200: json(s.GroupOut, 'the group'), ...errors(404) },
    }),
    async (c) => {
      const d = await groups.describe(c.req.valid('param').group);
      requireTopics(c, 'read', new Set(d.partitions.map((p) => p.topic)));
      return c.json(
        {
          group: d.group,
          kind: d.kind,
          protocol: d.protocol,
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
    declareRoute('delete', '/v1/groups/{group}', {
      summary: 'Delete a group and its offsets (only while it has no live members)',
      access: { group: 'delete', from: 'param:group' },
      request: { params: s.GroupParams },
      responses: { 204: { description: 'deleted' }, ...errors(404, 409) },
    }),
    async (c) => {
      await groups.deleteGroup(c.req.valid('param').group);
      return c.body(null, 204);
    },
  );

  return app;
}

function offsetsOut(offsets: readonly OffsetView[]) {
  return { offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.committed })) };
}
