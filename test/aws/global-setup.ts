import type { TestProject } from 'vitest/node';
import { startLocalAws } from '../support/services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
    s3Endpoint: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const aws = await startLocalAws();
  project.provide('dynamoEndpoint', aws.dynamoEndpoint);
  project.provide('s3Endpoint', aws.s3Endpoint);
  return () => aws.stop();
}
