/**
 * Starts the server under test once for the whole interop run (see support.ts for the choice of
 * target) and hands its bootstrap address to the test files, and the HTTP API's address when the
 * target is a Spool agent started here.
 */
import type { TestProject } from 'vitest/node';
import { startTarget } from './support.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The shared Spool agent starts a new cluster, at spool.commit.version 1: it packs its commits. INTEROP_PACKED=0 starts
  // it at 0 (SPOOL_INITIAL_FEATURES), as a cluster written by an earlier version: every commit per partition.
  const perPartition = process.env.INTEROP_PACKED === '0';
  const target = await startTarget(process.env, perPartition ? { SPOOL_INITIAL_FEATURES: 'spool.commit.version=0' } : {});
  process.stderr.write(`interop: testing ${target.kind} at ${target.bootstrap}\n`);
  project.provide('interopBootstrap', target.bootstrap);
  project.provide('interopTarget', target.kind);
  if (target.httpUrl) project.provide('interopHttp', target.httpUrl);
  return () => target.close();
}
