/**
 * The Spool stack in every configuration that changes its resources, one stack each in one app: the
 * cdk-nag test (nag.test.ts) checks each against the AwsSolutions rules, and `npm run lint:cfn`
 * (test/infra/cfn-lint.sh) lints each template. A prop that adds or removes resources belongs here.
 * Resources a configuration takes from outside (a VPC, a log bucket) are imported with literal
 * attributes into a `Given` stack, as a user's existing ones would be.
 */
import { fileURLToPath } from 'node:url';
import { App, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Peer, Vpc, type IVpc } from 'aws-cdk-lib/aws-ec2';
import { FunctionUrlAuthType } from 'aws-cdk-lib/aws-lambda';
import { Bucket, type IBucket } from 'aws-cdk-lib/aws-s3';
import { SpoolStack, type SpoolProps } from '../../infra/spool-stack.js';

export const configurationNames = [
  'defaults',
  'http-api',
  'open-function-url',
  'destroy-on-delete',
  'server-access-logs',
  'kafka-agents',
  'kafka-agents-in-given-vpc',
] as const;
export type ConfigurationName = (typeof configurationNames)[number];

/**
 * Synthesizes every configuration into `outdir`; each stack is named `Spool-<configuration>`. Templates
 * only: the functions are not bundled (the stack tests and `npm run synth` bundle them).
 */
export function synthesizeConfigurations(outdir: string): { app: App; stacks: Record<ConfigurationName, SpoolStack> } {
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  const { vpc, accessLogs } = givenResources(app);
  const props: Record<ConfigurationName, SpoolProps> = {
    defaults: {},
    'http-api': { apiEndpoint: 'http-api' },
    'open-function-url': { functionUrlAuth: FunctionUrlAuthType.NONE },
    'destroy-on-delete': { removalPolicy: RemovalPolicy.DESTROY },
    'server-access-logs': { serverAccessLogsBucket: accessLogs },
    'kafka-agents': { kafkaAgents: { desiredCount: 2 } },
    'kafka-agents-in-given-vpc': { kafkaAgents: { vpc, allowFrom: Peer.ipv4('10.20.4.0/22') } },
  };
  const stacks = Object.fromEntries(
    configurationNames.map((name) => [name, new SpoolStack(app, `Spool-${name}`, { spool: props[name] })]),
  ) as Record<ConfigurationName, SpoolStack>;
  app.synth();
  return { app, stacks };
}

/** A user's existing VPC (10.20.0.0/16) and log bucket (`central-access-logs`), imported. */
export function givenResources(app: App): { vpc: IVpc; accessLogs: IBucket } {
  const given = new Stack(app, 'Given');
  Validations.of(given).acknowledge({
    id: 'CloudFormation-Validate::F0001',
    reason: 'The stack only imports existing resources: it has none of its own.',
  });
  const vpc = Vpc.fromVpcAttributes(given, 'Vpc', {
    vpcId: 'vpc-0123456789abcdef0',
    vpcCidrBlock: '10.20.0.0/16',
    availabilityZones: ['us-east-1a', 'us-east-1b'],
    privateSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
  });
  return { vpc, accessLogs: Bucket.fromBucketName(given, 'AccessLogs', 'central-access-logs') };
}

// `node --import tsx test/infra/configurations.ts <outdir>` writes the templates (cfn-lint.sh).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outdir = process.argv[2];
  if (!outdir) throw new Error('usage: configurations.ts <outdir>');
  synthesizeConfigurations(outdir);
}
