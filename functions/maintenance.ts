/** Lambda entry point of the scheduled maintenance pass (EventBridge). Configured by SPOOL_* variables. */
import { createMaintenanceHandler } from '../lib/maintenance-handler.js';

export const handler = createMaintenanceHandler();
