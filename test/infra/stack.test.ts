/**
 * The CDK stack, asserted on its synthesized template: storage security, Lambda settings, the
 * schedule, the endpoint choice, logging, and least privilege (no `*` action on the bucket or the
 * table; on the bucket, exactly the actions of the S3 calls the object store sends).
 * Synthesis bundles the functions with esbuild, offline, into assets the tests read too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { s3ActionsByCommand, SpoolStack } from '../../infra/spool-stack.js';
import { givenResources } from './configurations.js';

const newOutdir = () => `/tmp/spool-cdk-${process.pid}-${Math.random().toString(36).slice(2)}`;

function synth(props: ConstructorParameters<typeof SpoolStack>[2] = {}, outdir = newOutdir()): Template {
  const app = new App({ outdir });
  return Template.fromStack(new SpoolStack(app, 'Test', props));
}

describe('infra > Spool stack', () => {
  const outdir = newOutdir();
  let template: Template;
  beforeAll(() => {
    template = synth({}, outdir);
  }, 120_000);

  it('stores segments in an encrypted, TLS-only, private bucket kept on stack deletion', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: [Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' })],
      },
    });
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('keeps coordination in an on-demand table with point-in-time recovery and a TTL attribute', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain' });
  });

  it('runs the API and maintenance on Node 22, arm64, configured for the bucket and table', () => {
    const functions = template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } });
    expect(Object.keys(functions)).toHaveLength(2);
    for (const fn of Object.values(functions)) {
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(Object.keys(fn.Properties.Environment.Variables)).toEqual(
        expect.arrayContaining(['SPOOL_OBJECT_STORE', 'SPOOL_METADATA_STORE', 'SPOOL_CREATE_STORES']),
      );
      expect(fn.Properties.Environment.Variables.SPOOL_CREATE_STORES).toBe('false');
    }
  });

  it("ships the console's build beside the API function's bundle, and only there", () => {
    const files = (description: string) => {
      const [fn] = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Description: description } }));
      const asset = join(outdir, `asset.${(fn!.Properties.Code.S3Key as string).replace(/\.zip$/, '')}`);
      return readdirSync(asset, { recursive: true, encoding: 'utf8' }).sort();
    };
    const built = readdirSync(new URL('../../dist/console/', import.meta.url)).map((name) => join('console', name));
    expect(files('Spool HTTP API')).toEqual(['console', ...built, 'index.mjs', 'index.mjs.map'].sort());
    expect(files('Spool maintenance pass: compaction, retention, garbage collection')).toEqual(['index.mjs', 'index.mjs.map']);
  });

  it('runs maintenance on an EventBridge schedule', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
  });

  it('serves the API behind an IAM-authenticated function URL by default, or an HTTP API with access logs', () => {
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM' });
    const httpApi = synth({ spool: { apiEndpoint: 'http-api' } });
    httpApi.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    httpApi.resourceCountIs('AWS::Lambda::Url', 0);
    const stage = Object.values(httpApi.findResources('AWS::ApiGatewayV2::Stage', { Properties: { StageName: '$default' } }));
    expect(stage).toHaveLength(1);
    const { DestinationArn, Format } = stage[0]!.Properties.AccessLogSettings;
    expect(JSON.parse(Format)).toMatchObject({ requestId: '$context.requestId', status: '$context.status', path: '$context.path' });
    const [logGroupId] = DestinationArn['Fn::GetAtt'];
    expect(httpApi.toJSON().Resources[logGroupId]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 } });
  }, 120_000);

  it("writes each function's logs to a log group of its own, kept 30 days, and may write no other", () => {
    const resources = template.toJSON().Resources;
    const functions = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } }));
    const logGroups = functions.map((fn) => fn.Properties.LoggingConfig.LogGroup.Ref as string);
    expect(new Set(logGroups).size).toBe(2);
    for (const [index, fn] of functions.entries()) {
      expect(resources[logGroups[index]!]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 } });
      const [roleId] = fn.Properties.Role['Fn::GetAtt'];
      expect(resources[roleId].Properties.ManagedPolicyArns).toBeUndefined();
      const logStatements = statementsOf(template, roleId).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('logs:')),
      );
      expect(logStatements).toEqual([
        { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroups[index], 'Arn'] } },
      ]);
    }
    // No custom resource sets retention any more (the deprecated logRetention did).
    expect(Object.keys(template.findResources('Custom::LogRetention'))).toHaveLength(0);
  });

  it('grants on the bucket exactly the actions of the S3 calls the object store sends', () => {
    // Every `…Command` the store imports must be in s3ActionsByCommand, and every entry there in use.
    const source = readFileSync(new URL('../../lib/storage/s3.ts', import.meta.url), 'utf8');
    const imports = /import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-s3'/.exec(source)?.[1] ?? '';
    const commands = [...imports.matchAll(/(\w+)Command\b/g)].map((match) => match[1]!);
    expect(commands.length).toBeGreaterThan(0);
    expect(new Set(commands)).toEqual(new Set(Object.keys(s3ActionsByCommand)));

    const bucketArn = { 'Fn::GetAtt': [bucketId(template), 'Arn'] };
    const objectsArn = { 'Fn::Join': ['', [bucketArn, '/*']] };
    const granted = new Set(Object.values(s3ActionsByCommand).filter((action) => action !== undefined));
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } }))) {
      const s3Statements = statementsOf(template, fn.Properties.Role['Fn::GetAtt'][0]).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('s3:')),
      );
      expect(s3Statements).toEqual([
        { Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn },
        { Effect: 'Allow', Action: [...granted].filter((action) => action !== 's3:ListBucket'), Resource: objectsArn },
      ]);
    }
  });

  it('logs requests to the bucket only when given a bucket for the logs', () => {
    expect(Object.values(template.findResources('AWS::S3::Bucket'))[0]!.Properties.LoggingConfiguration).toBeUndefined();
    const app = new App({
      outdir: `/tmp/spool-cdk-${process.pid}-${Math.random().toString(36).slice(2)}`,
      context: { 'aws:cdk:bundling-stacks': [] },
    });
    const { accessLogs } = givenResources(app);
    const logged = Template.fromStack(new SpoolStack(app, 'Logged', { spool: { serverAccessLogsBucket: accessLogs } }));
    logged.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: 'central-access-logs', LogFilePrefix: 'spool-segments/' },
    });
  });

  it('destroys the bucket and table with the stack only when asked to', () => {
    const disposable = synth({ spool: { removalPolicy: RemovalPolicy.DESTROY } });
    disposable.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    disposable.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
  }, 120_000);

  it('turns the library’s metrics on, and alarms on errors, throttles, latency, conflicts and lag', () => {
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } }))) {
      expect(fn.Properties.Environment.Variables.SPOOL_METRICS).toBe('emf');
    }
    const alarmed = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => [
      a.Properties.Namespace,
      a.Properties.MetricName,
    ]);
    expect(alarmed).toEqual(
      expect.arrayContaining([
        ['Spool', 'Errors'],
        ['Spool', 'Throttles'],
        ['Spool', 'Latency'],
        ['Spool', 'CommitConflicts'],
        ['Spool', 'ConsumerLag'],
        ['AWS/Lambda', 'Errors'],
      ]),
    );
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ConsumerLag', Threshold: 100_000, Statistic: 'Maximum' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Latency', Threshold: 1000, ExtendedStatistic: 'p99' });
    const dashboards = template.findResources('AWS::CloudWatch::Dashboard');
    expect(Object.keys(dashboards)).toHaveLength(1);
    const body = JSON.stringify(Object.values(dashboards)[0]!.Properties.DashboardBody);
    for (const name of ['Requests', 'Latency', 'Throttles', 'RecordsProduced', 'RecordsFetched', 'CommitConflicts', 'ConsumerLag'])
      expect(body).toContain(name);
  });

  it('grants no wildcard action on the bucket or the table', () => {
    expectNoWildcardActions(template);
  });

  it('runs no agents unless asked: nothing but stored data costs money at rest', () => {
    template.resourceCountIs('AWS::ECS::Service', 0);
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 0);
  });

  describe('with Kafka agents', () => {
    let agents: Template;
    beforeAll(() => {
      agents = synth({ spool: { kafkaAgents: { desiredCount: 3 } } });
    }, 120_000);

    it("runs the agent container on Fargate (arm64), advertising each task's own address", () => {
      agents.hasResourceProperties('AWS::ECS::Service', { LaunchType: 'FARGATE', DesiredCount: 3 });
      agents.hasResourceProperties('AWS::ECS::TaskDefinition', {
        RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
        Cpu: '1024',
        Memory: '2048',
        ContainerDefinitions: [
          Match.objectLike({
            PortMappings: [Match.objectLike({ ContainerPort: 9092 }), Match.objectLike({ ContainerPort: 8080 })],
            Environment: Match.arrayWith([
              { Name: 'SPOOL_CREATE_STORES', Value: 'false' },
              { Name: 'SPOOL_HOST', Value: '0.0.0.0' },
              { Name: 'SPOOL_KAFKA_ADVERTISED_HOST', Value: 'auto' },
              { Name: 'SPOOL_MAINTENANCE_INTERVAL_MS', Value: '0' },
            ]),
          }),
        ],
      });
    });

    it('puts them behind an internal Network Load Balancer on 9092, open to the VPC only', () => {
      agents.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Type: 'network', Scheme: 'internal' });
      agents.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 9092, Protocol: 'TCP' });
      agents.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        Port: 9092,
        Protocol: 'TCP',
        TargetType: 'ip',
        HealthCheckProtocol: 'TCP',
      });
      agents.hasResourceProperties('AWS::EC2::SecurityGroup', {
        SecurityGroupIngress: Match.arrayWith([
          Match.objectLike({ FromPort: 9092, ToPort: 9092, IpProtocol: 'tcp', CidrIp: { 'Fn::GetAtt': [Match.anyValue(), 'CidrBlock'] } }),
        ]),
      });
      expect(Object.keys(agents.findOutputs('KafkaBootstrap'))).toHaveLength(1);
    });

    it('watches the agents with Container Insights, and logs the traffic of the VPC it creates', () => {
      agents.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
      const flowLogs = Object.values(agents.findResources('AWS::EC2::FlowLog'));
      expect(flowLogs).toHaveLength(1);
      expect(flowLogs[0]!.Properties).toMatchObject({ ResourceType: 'VPC', TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs' });
      expect(agents.toJSON().Resources[flowLogs[0]!.Properties.LogGroupName.Ref]).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: { RetentionInDays: 30 },
      });
    });

    it('grants the agents the bucket and the table, still with no wildcard action', () => {
      expectNoWildcardActions(agents);
      const taskPolicies = Object.values(agents.findResources('AWS::IAM::Policy')).filter((p) =>
        JSON.stringify(p.Properties.Roles).includes('AgentTaskTaskRole'),
      );
      const actions = taskPolicies.flatMap((p) =>
        p.Properties.PolicyDocument.Statement.flatMap((st: { Action: string | string[] }) => ([] as string[]).concat(st.Action)),
      );
      expect(actions).toEqual(expect.arrayContaining(['s3:PutObject', 'dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem']));
    });
  });
});

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/** The statements of the policies attached to a role (by logical id). */
function statementsOf(template: Template, roleId: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as { Ref: string }[]).some((role) => role.Ref === roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

function actionsOf(statement: Statement): string[] {
  return ([] as string[]).concat(statement.Action);
}

function bucketId(template: Template): string {
  const ids = Object.keys(template.findResources('AWS::S3::Bucket'));
  expect(ids).toHaveLength(1);
  return ids[0]!;
}

function expectNoWildcardActions(template: Template): void {
  const policies = template.findResources('AWS::IAM::Policy');
  expect(Object.keys(policies).length).toBeGreaterThan(0);
  for (const policy of Object.values(policies)) {
    for (const statement of policy.Properties.PolicyDocument.Statement as { Action: string | string[] }[]) {
      for (const action of ([] as string[]).concat(statement.Action)) {
        expect(action).not.toBe('*');
        expect(action).not.toMatch(/^(s3|dynamodb):\*$/);
      }
    }
  }
}
