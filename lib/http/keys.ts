/** API-key management routes, present when the API runs with keys: each needs admin on the service. */
import { z } from '@hono/zod-openapi';
import { checkPermissions, permissionAttrs, type ApiKeys, type KeyInfo } from '../auth.js';
import { declareRoute } from './access.js';
import { newRouter } from './middleware.js';
import { errorResponses as errors, json } from './responses.js';

/** A grant on topics or on groups: exactly one of the two (checked, with the actions each takes, by checkPermissions). */
const Permission = z
  .object({
    topics: z.string().optional(),
    groups: z.string().optional(),
    actions: z.array(z.enum(['read', 'write', 'admin', 'describe', 'delete'])),
  })
  .strict()
  .openapi('Permission', { description: 'topics: read, write, admin; groups: read, describe, delete, admin' });
const KeyOut = z
  .object({ id: z.string(), name: z.string(), permissions: z.array(Permission), created_ms: z.number().int() })
  .openapi('ApiKey');

export function keyRoutes(keys: ApiKeys) {
  const app = newRouter();
  app.openapi(
    declareRoute('post', '/v1/admin/keys', {
      summary: 'Make an API key; the answer holds its only copy',
      access: { service: 'admin' },
      request: {
        body: {
          content: {
            'application/json': {
              schema: z.object({ name: z.string().min(1).max(200), permissions: z.array(Permission).min(1) }).strict(),
            },
          },
          required: true,
        },
      },
      responses: { 201: json(KeyOut.extend({ key: z.string() }), 'the key'), ...errors(400, 401, 403) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const made = await keys.create(body.name, checkPermissions(body.permissions));
      return c.json({ ...keyOut(made), key: made.key }, 201);
    },
  );
  app.openapi(
    declareRoute('get', '/v1/admin/keys', {
      summary: 'List API keys (never their secrets)',
      access: { service: 'admin' },
      responses: { 200: json(z.object({ keys: z.array(KeyOut) }), 'keys'), ...errors(401, 403) },
    }),
    async (c) => {
      const list = await keys.list();
      return c.json({ keys: list.map(keyOut) }, 200);
    },
  );
  app.openapi(
    declareRoute('delete', '/v1/admin/keys/{id}', {
      summary: 'Revoke an API key',
      access: { service: 'admin' },
      request: { params: z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' } }) }) },
      responses: { 204: { description: 'revoked' }, ...errors(401, 403, 404) },
    }),
    async (c) => {
      await keys.revoke(c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
  return app;
}

/**
 * GET /v1/me: the key the request came with and what it may do, so that a client (the web console) shows
 * only what the key may do. Any valid key may ask about itself; with keys off, it is the open access
 * everyone has (`auth: false`).
 */
export function meRoutes(authOn: boolean) {
  const app = newRouter();
  app.openapi(
    declareRoute('get', '/v1/me', {
      summary: 'The API key of the request and its permissions',
      // Any key: it is answered about itself only.
      access: { topic: 'read', from: 'listed' },
      responses: {
        200: json(z.object({ auth: z.boolean(), name: z.string(), permissions: z.array(Permission) }), 'the key'),
        ...errors(401),
      },
    }),
    (c) => {
      const principal = c.get('principal')!;
      return c.json({ auth: authOn, name: principal.name, permissions: principal.permissions.map(permissionAttrs) }, 200);
    },
  );
  return app;
}

function keyOut(key: KeyInfo) {
  return { id: key.id, name: key.name, permissions: key.permissions.map(permissionAttrs), created_ms: key.createdMs };
}
