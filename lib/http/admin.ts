/** Service administration routes: a maintenance pass on demand, for the service admin only. */
import type { Log } from '../log/index.js';
import { declareRoute } from './access.js';
import { newRouter } from './middleware.js';
import { errorResponses, json } from './responses.js';
import * as s from './schemas.js';

export function adminRoutes(log: Log) {
  return newRouter().openapi(
    declareRoute('post', '/v1/admin/maintenance', {
      summary:
        'Run one maintenance pass now (compaction, retention, garbage collection) and report it; a pass under way is waited for first',
      access: { service: 'admin' },
      responses: { 200: json(s.MaintenanceOut, 'what the pass did, and objects and rows before and after'), ...errorResponses(503) },
    }),
    // A pass that starts after the request: one already running may have read the log before what the caller wrote.
    async (c) => c.json(await log.runMaintenance({ startAfterCall: true }), 200),
  );
}
