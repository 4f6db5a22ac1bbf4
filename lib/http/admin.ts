/** Service administration routes: a maintenance pass on demand, for the service admin only. */
import type { Log } from '../log/index.js';
import { declareRoute } from './access.js';
import { newRouter } from './middleware.js';
import { errorResponses, json } from './responses.js';
import * as s from './schemas.js';

export function adminRoutes(log: Log) {
  return newRouter().openapi(
    declareRoute('post', '/v1/admin/maintenance', {
      summary: 'Run one maintenance pass now (compaction, retention, garbage collection) and report it',
      access: { service: 'admin' },
      responses: { 200: json(s.MaintenanceOut, 'what the pass did, and objects and rows before and after'), ...errorResponses(503) },
    }),
    async (c) => c.json(await log.runMaintenance(), 200),
  );
}
