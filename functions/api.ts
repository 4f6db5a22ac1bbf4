/**
 * Lambda entry point of the HTTP API (API Gateway HTTP API or function URL). Configured by SPOOL_* variables.
 * The stack copies the console's build into the asset as `console/`, beside this module's bundle.
 */
import { fileURLToPath } from 'node:url';
import { createLambdaHandler } from '../lib/http/lambda.js';

export const handler = createLambdaHandler(process.env, { consoleDir: fileURLToPath(new URL('console', import.meta.url)) });
