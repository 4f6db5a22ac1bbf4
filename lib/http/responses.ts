/** OpenAPI response declarations shared by every route module: a JSON body, and the error bodies. */
import type { z } from '@hono/zod-openapi';
import { ErrorOut } from './schemas.js';

export const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, { description: 'error', content: { 'application/json': { schema: ErrorOut } } }]));
