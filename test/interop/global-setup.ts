/**
 * Starts the server under test once for the whole interop run (see support.ts for the choice of
 * target) and hands its bootstrap address to the test files.
 */
import type { TestProject } from 'vitest/node';
import { startTarget } from './support.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const target = await startTarget();
  process.stderr.write(`interop: testing ${target.kind} at ${target.bootstrap}\n`);
  project.provide('interopBootstrap', target.bootstrap);
  project.provide('interopTarget', target.kind);
  return () => target.close();
}
