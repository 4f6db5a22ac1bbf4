import { defineConfig } from 'vitest/config';

// Three projects: `unit` needs nothing but Node (embedded store, filesystem, pure code); `aws` runs the
// same contract and engine suites against DynamoDB Local and s3rver, which its global setup starts
// and stops, or against LocalStack or an AWS account named by SPOOL_TEST_* variables
// (test/support/aws-target.ts; `npm run test:localstack`). `npm test` runs both. `interop` (`npm run test:interop`, after test/interop/setup.sh)
// runs real Kafka clients (kafkajs, kcat, Java, sarama, Filebeat) against Spool, or against Apache Kafka with
// INTEROP_TARGET=kafka. `browser` (`npm run test:browser`) drives the console in Debian's Chromium.
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/aws/**', 'test/interop/**', 'test/browser/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'aws',
          include: ['test/aws/**/*.test.ts'],
          globalSetup: ['test/aws/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'interop',
          include: ['test/interop/**/*.test.ts'],
          globalSetup: ['test/interop/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
