/** The report a maintenance pass keeps for the cluster page (lib/log/maintenance/index.ts). */
import { describe, expect, it } from 'vitest';
import { maintenanceReportKey } from '../../lib/keys.js';
import { maintenanceReport, readMaintenanceReport } from '../../lib/log/maintenance/index.js';
import { MemoryMetadataStore } from '../../lib/storage/memory.js';
import { emptyResult } from '../../lib/log/maintenance/context.js';

describe('maintenance > report', () => {
  it('keeps the largest 1,000 topics and counts the rest, so the item stays far below 400 KB', () => {
    const topicBytes = Object.fromEntries(Array.from({ length: 1003 }, (_, i) => [`${'t'.repeat(240)}-${i}`, i]));
    const report = maintenanceReport(1234, emptyResult(), topicBytes);
    expect(Object.keys(report.topicBytes)).toHaveLength(1000);
    expect(report.topicsOmitted).toBe(3);
    expect(report.topicBytes[`${'t'.repeat(240)}-1002`]).toBe(1002);
    expect(report.topicBytes[`${'t'.repeat(240)}-2`]).toBeUndefined();
    expect(JSON.stringify(report).length).toBeLessThan(300_000);
  });

  it('reads back what a pass wrote, and an item in another shape as no report', async () => {
    const metadata = new MemoryMetadataStore();
    expect(await readMaintenanceReport(metadata)).toBeUndefined();
    const report = maintenanceReport(1234, emptyResult(), { orders: 10 });
    const put = (value: unknown) => metadata.write({ kind: 'put', key: maintenanceReportKey, attrs: { report: value as string } });
    await put(JSON.stringify(report));
    expect(await readMaintenanceReport(metadata)).toEqual(report);
    for (const bad of ['{', 'null', '[]', JSON.stringify({ endedMs: 1 }), JSON.stringify({ ...report, topicBytes: 'x' }), 42]) {
      await put(bad);
      expect(await readMaintenanceReport(metadata), String(bad)).toBeUndefined();
    }
  });
});
