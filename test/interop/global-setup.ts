/**
 * Starts the server under test once for the whole interop run (see support.ts for the choice of
 * target) and hands its bootstrap address to the test files, and the HTTP API's address when the
 * target is a Spool agent started here.
 */
import type { TestProject } from 'vitest/node';
import { startTarget } from './support.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // INTEROP_PACKED=1: the shared Spool agent packs its commits (SPOOL_PACKED_COMMITS=true), for a run of every suite packed.
  const target = await startTarget(process.env, process.env.INTEROP_PACKED === '1' ? { SPOOL_PACKED_COMMITS: 'true' } : {});
  process.stderr.write(`interop: testing ${target.kind} at ${target.bootstrap}\n`);
  project.provide('interopBootstrap', target.bootstrap);
  project.provide('interopTarget', target.kind);
  if (target.httpUrl) project.provide('interopHttp', target.httpUrl);
  return () => target.close();
}
