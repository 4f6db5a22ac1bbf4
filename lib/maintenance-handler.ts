/**
 * The scheduled maintenance pass as an AWS Lambda handler (EventBridge schedule): opens the engine
 * from SPOOL_* variables once per execution environment and runs one pass per invocation, returning
 * its result (which is also logged), then reports each consumer group's lag as a metric.
 */
import { loadConfig } from './config.js';
import type { MaintenanceResult } from './log/index.js';
import { jsonLogger } from './logger.js';
import { GroupCoordinator } from './groups/coordinator.js';
import { emitGroupLag } from './groups/metrics.js';
import { openRuntime, type Runtime } from './runtime.js';

export function createMaintenanceHandler(env: Readonly<Record<string, string | undefined>> = process.env) {
  let ready: Promise<Runtime> | undefined;
  const handler = async (): Promise<MaintenanceResult> => {
    ready ??= openRuntime(loadConfig(env, { createStores: false }), { log: { logger: jsonLogger() } }).catch((error) => {
      ready = undefined;
      throw error;
    });
    const runtime = await ready;
    const result = await runtime.log.runMaintenance();
    await emitGroupLag(new GroupCoordinator(runtime.log, runtime.stores.metadata), runtime.metrics);
    return result;
  };
  return Object.assign(handler, { runtime: () => ready });
}
