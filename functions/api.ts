/** Lambda entry point of the HTTP API (API Gateway HTTP API or function URL). Configured by SPOOL_* variables. */
import { createLambdaHandler } from '../lib/http/lambda.js';

export const handler = createLambdaHandler();
