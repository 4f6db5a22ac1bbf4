/** Consumer-group lag as a metric: per group, the sum over its partitions of high watermark − committed. */
import { noMetrics, type Metrics } from '../metrics.js';
import type { GroupCoordinator } from './coordinator.js';

export async function emitGroupLag(groups: GroupCoordinator, metrics: Metrics): Promise<void> {
  if (metrics === noMetrics) return; // no one is listening: spare the reads
  for (const { group } of await groups.list()) {
    const described = await groups.describe(group).catch(() => undefined);
    if (!described) continue;
    const lag = described.partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0);
    metrics.emit({ ConsumerLag: [lag, 'Count'] }, { Group: group });
  }
}
