/** The scheduled maintenance Lambda handler, invoked in process as EventBridge would, against a given store. */
import { describe, expect, it } from 'vitest';
import { createMaintenanceHandler } from '../../lib/maintenance-handler.js';
import { openRuntime } from '../../lib/runtime.js';
import { loadConfig } from '../../lib/config.js';

export function maintenanceHandlerSuite(env: () => Record<string, string>): void {
  describe('lambda > scheduled maintenance handler', () => {
    it('runs one pass per invocation over the configured stores', async () => {
      const settings = { ...env(), SPOOL_COMPACTION_TAIL_AGE_MS: '0', SPOOL_CREATE_STORES: 'true' };
      const writer = await openRuntime(loadConfig(settings));
      for (let i = 0; i < 3; i++) await writer.log.produce('scheduled', [{ key: null, value: Buffer.from(`v${i}`) }]);
      await writer.close();

      const handler = createMaintenanceHandler(settings);
      const scheduledEvent = { version: '0', 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} };
      void scheduledEvent; // the handler ignores its event: every invocation is one pass
      const first = await handler();
      expect(first).toMatchObject({ segments_compacted: 1, rows_before: 3, rows_after: 1 });
      const second = await handler();
      expect(second).toMatchObject({ segments_compacted: 0, rows_before: 1 });
      const runtime = (await handler.runtime())!;
      expect((await runtime.log.fetch('scheduled', 0, 0)).records.map((r) => r.value!.toString())).toEqual(['v0', 'v1', 'v2']);
      await runtime.close();
    });
  });
}
