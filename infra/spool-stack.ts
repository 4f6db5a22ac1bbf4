/**
 * Spool on AWS as one construct: the S3 bucket for segments, the DynamoDB table for coordination,
 * the HTTP API as a Lambda function (behind a function URL or an API Gateway HTTP API) and the
 * maintenance pass as a Lambda on an EventBridge schedule. The API function also serves the web console
 * at /ui: its asset holds the console's build (dist/console, `npm run build`) as `console/` beside the
 * bundle, and synthesis stops when there is none to copy. Access is granted with grant* calls only,
 * scoped to the bucket, the table and each function's own log group; on the bucket, exactly the S3
 * actions the object store sends (`s3ActionsByCommand`). The functions write CloudWatch EMF metrics
 * (lib/metrics.ts); alarms and a dashboard watch them. Nothing runs while idle: the cost at rest is
 * the stored data. Optionally (`kafkaAgents`), agents serving the Kafka protocol run on ECS Fargate
 * behind a Network Load Balancer; those run, and cost, all the time.
 *
 * The stack passes cdk-nag's AwsSolutions rules (test/infra/nag.test.ts). Where a rule does not fit
 * Spool, the construct acknowledges it with `Validations.of(...).acknowledge()` next to the resource,
 * with the reason; cdk-nag reads those, and nothing here depends on cdk-nag itself.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { type CfnStage, HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Architecture, FunctionUrlAuthType, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Grant, Role, ServicePrincipal, type IRole } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, type CfnBucket, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Alarm, ComparisonOperator, Dashboard, GraphWidget, Metric, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { FlowLogDestination, FlowLogTrafficType, Peer, Port, SecurityGroup, Vpc, type IPeer, type IVpc } from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  Cluster,
  ContainerImage,
  ContainerInsights,
  CpuArchitecture,
  FargateService,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
} from 'aws-cdk-lib/aws-ecs';
import { NetworkLoadBalancer, Protocol } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Construct } from 'constructs';
import { metricsNamespace } from '../lib/metrics.js';
import { lambdaBanner, lambdaExternalModules, lambdaMainFields } from './lambda-bundle.js';

export interface SpoolProps {
  /**
   * How clients reach the HTTP API: a Lambda function URL (cheapest) or an API Gateway HTTP API.
   * @default 'function-url'
   */
  readonly apiEndpoint?: 'function-url' | 'http-api';
  /**
   * Who may call the function URL: AWS_IAM (SigV4-signed requests only) or NONE (open).
   * @default FunctionUrlAuthType.AWS_IAM
   */
  readonly functionUrlAuth?: FunctionUrlAuthType;
  /**
   * What happens to the bucket and table when the stack is deleted. RETAIN keeps the data.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * A bucket that receives the segment bucket's S3 server access logs (under `serverAccessLogsPrefix`).
   * Every produce and fetch is an S3 request, so the logs grow with traffic, not with data.
   * @default none: requests are not logged (CloudTrail data events are the other way to audit them)
   */
  readonly serverAccessLogsBucket?: IBucket;
  /**
   * Key prefix of the access logs in `serverAccessLogsBucket`.
   * @default 'spool-segments/'
   */
  readonly serverAccessLogsPrefix?: string;
  /**
   * How often the maintenance pass (compaction, retention, garbage collection) runs.
   * @default Duration.minutes(5)
   */
  readonly maintenanceInterval?: Duration;
  /**
   * Memory of the API function; Lambda gives CPU in proportion.
   * @default 1024
   */
  readonly apiMemoryMb?: number;
  /**
   * Extra SPOOL_* settings for both functions (e.g. SPOOL_DEFAULT_PARTITIONS).
   * @default none
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * The consumer-group lag (records behind, largest over groups) that raises the lag alarm.
   * @default 100000
   */
  readonly lagAlarmRecords?: number;
  /**
   * API latency p99 (ms) that raises the latency alarm.
   * @default 1000
   */
  readonly latencyAlarmMs?: number;
  /**
   * Agents serving the Kafka protocol (and the HTTP API) on ECS Fargate behind an internal Network
   * Load Balancer, for Kafka clients in the VPC. Unlike the Lambdas they run, and cost, all the time.
   * @default none: no agents, Lambda only
   */
  readonly kafkaAgents?: KafkaAgentsProps;
}

export interface KafkaAgentsProps {
  /**
   * The VPC of the agents, the load balancer and the clients.
   * @default a new VPC: 2 availability zones, public and private subnets, one NAT gateway
   */
  readonly vpc?: IVpc;
  /**
   * How many agents run. Partitions and groups are spread over them by lease; one that stops is
   * replaced, and its partitions move to the others once its registration expires.
   * @default 2
   */
  readonly desiredCount?: number;
  /**
   * CPU units per agent (1024 = 1 vCPU).
   * @default 1024
   */
  readonly cpu?: number;
  /**
   * Memory per agent, in MiB.
   * @default 2048
   */
  readonly memoryMiB?: number;
  /**
   * Who may connect to the Kafka port (9092) and the HTTP port (8080) of the agents.
   * @default the VPC's CIDR block
   */
  readonly allowFrom?: IPeer;
}

const functionsDir = fileURLToPath(new URL('../functions/', import.meta.url));
const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));
/** The console's build, relative to the repository (the bundling's input directory). */
const consoleBuild = join('dist', 'console');

export class Spool extends Construct {
  readonly bucket: Bucket;
  readonly table: Table;
  readonly api: NodejsFunction;
  readonly maintenance: NodejsFunction;
  readonly url: string;
  /** Every alarm, for callers to add actions (e.g. `alarm.addAlarmAction(new SnsAction(topic))`). */
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;
  /** With `kafkaAgents`: the agents' service and the bootstrap address for Kafka clients (`host:9092`). */
  readonly kafka?: { readonly service: FargateService; readonly loadBalancer: NetworkLoadBalancer; readonly bootstrap: string };

  constructor(scope: Construct, id: string, props: SpoolProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.bucket = new Bucket(this, 'Segments', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      // A backstop only: Spool never leaves multipart uploads, and its own collector deletes orphans.
      lifecycleRules: [{ id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      serverAccessLogsBucket: props.serverAccessLogsBucket,
      serverAccessLogsPrefix: props.serverAccessLogsBucket ? (props.serverAccessLogsPrefix ?? 'spool-segments/') : undefined,
    });
    if (!props.serverAccessLogsBucket) {
      Validations.of(this.bucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          "Server access logs are opt-in (serverAccessLogsBucket): only the stack's own roles can reach this private, TLS-only bucket, " +
          'and every produce and fetch is an S3 request, so logging by default would add a log bucket whose cost grows with traffic.',
      });
    }

    this.table = new Table(this, 'Coordination', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      removalPolicy,
    });

    const environment = {
      SPOOL_OBJECT_STORE: `s3://${this.bucket.bucketName}/spool`,
      SPOOL_METADATA_STORE: `dynamodb://${this.table.tableName}`,
      SPOOL_CREATE_STORES: 'false',
      SPOOL_METRICS: 'emf',
      NODE_OPTIONS: '--enable-source-maps',
      ...props.environment,
    };
    const common = {
      projectRoot: repositoryRoot,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      environment,
      bundling: {
        minify: true,
        sourceMap: true,
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: lambdaMainFields,
        externalModules: lambdaExternalModules,
        banner: lambdaBanner,
      },
    };

    // Checked here, where it can say what to do, rather than by a failing cp; only when this stack is bundled.
    if (Stack.of(this).bundlingRequired && !existsSync(join(repositoryRoot, consoleBuild, 'index.html'))) {
      throw new Error(
        `The console is not built (no ${join(repositoryRoot, consoleBuild, 'index.html')}): run npm run build before synthesis.`,
      );
    }
    this.api = new NodejsFunction(this, 'Api', {
      ...common,
      bundling: {
        ...common.bundling,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir: string, outputDir: string) => [
            `cp -R "${join(inputDir, consoleBuild)}" "${join(outputDir, 'console')}"`,
          ],
        },
      },
      ...this.functionLogging('Api'),
      entry: `${functionsDir}api.ts`,
      handler: 'handler',
      memorySize: props.apiMemoryMb ?? 1024,
      timeout: Duration.seconds(30),
      description: 'Spool HTTP API',
    });
    this.maintenance = new NodejsFunction(this, 'Maintenance', {
      ...common,
      ...this.functionLogging('Maintenance'),
      entry: `${functionsDir}maintenance.ts`,
      handler: 'handler',
      memorySize: 1024,
      timeout: Duration.minutes(5),
      description: 'Spool maintenance pass: compaction, retention, garbage collection',
    });
    for (const fn of [this.api, this.maintenance]) {
      this.grantStorage(fn.role!);
      this.table.grantReadWriteData(fn);
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-L1',
        reason:
          'The functions stay on Node.js 22 (an LTS line Lambda supports) on purpose: the bundle is built and tested for node22 ' +
          '(infra/lambda-bundle.ts); moving to a newer runtime is a change of its own, made with its tests, not on each runtime release.',
      });
    }
    new Rule(this, 'MaintenanceSchedule', {
      schedule: Schedule.rate(props.maintenanceInterval ?? Duration.minutes(5)),
      targets: [new LambdaFunction(this.maintenance, { retryAttempts: 0 })],
    });

    this.dashboard = this.observe(props);
    if (props.kafkaAgents) this.kafka = this.kafkaAgents(props.kafkaAgents, environment);

    if ((props.apiEndpoint ?? 'function-url') === 'http-api') {
      const httpApi = new HttpApi(this, 'HttpApi', { defaultIntegration: new HttpLambdaIntegration('ApiIntegration', this.api) });
      this.accessLogs(httpApi);
      Validations.of(httpApi).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'The HTTP API is the endpoint for clients that cannot sign requests with SigV4 (the function URL is the IAM-authenticated ' +
          'choice); for them Spool checks its own API keys, which a deployment of this kind turns on (SPOOL_AUTH=keys in ' +
          '`environment`, as the README says).',
      });
      this.url = httpApi.apiEndpoint;
    } else {
      this.url = this.api.addFunctionUrl({ authType: props.functionUrlAuth ?? FunctionUrlAuthType.AWS_IAM }).url;
    }
  }

  /**
   * A function's role and log group (kept one month, and kept when the stack is deleted, as Lambda's
   * own log groups are): the role may write that log group and nothing else of CloudWatch Logs,
   * where the managed AWSLambdaBasicExecutionRole would allow any log group.
   */
  private functionLogging(id: string): { role: IRole; logGroup: LogGroup } {
    const role = new Role(this, `${id}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    const logGroup = new LogGroup(this, `${id}Logs`, { retention: RetentionDays.ONE_MONTH });
    logGroup.grantWrite(role);
    return { role, logGroup };
  }

  /**
   * The object store's access to the bucket: the IAM actions of the S3 calls it sends
   * (`s3ActionsByCommand`), ListBucket on the bucket and the rest on its objects.
   */
  private grantStorage(role: IRole): void {
    const actions = new Set(Object.values(s3ActionsByCommand).filter((action) => action !== undefined));
    const bucketActions = [...actions].filter((action) => action === 's3:ListBucket');
    const objectActions = [...actions].filter((action) => action !== 's3:ListBucket');
    Grant.addToPrincipal({ grantee: role, actions: bucketActions, resourceArns: [this.bucket.bucketArn] });
    Grant.addToPrincipal({ grantee: role, actions: objectActions, resourceArns: [this.bucket.arnForObjects('*')] });
    const bucketId = Stack.of(this).resolve((this.bucket.node.defaultChild as CfnBucket).logicalId) as string;
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
      reason:
        'Spool names each object when it writes it (segments and their indexes, under keys made at run time), so its object ' +
        'actions cannot list objects in advance; the wildcard covers only the objects of the bucket the stack made for Spool.',
    });
  }

  /** Access logs of the HTTP API's default stage, as JSON lines in a log group kept one month. */
  private accessLogs(httpApi: HttpApi): void {
    const logGroup = new LogGroup(this, 'HttpApiAccessLogs', { retention: RetentionDays.ONE_MONTH });
    const fields = {
      requestId: '$context.requestId',
      ip: '$context.identity.sourceIp',
      requestTime: '$context.requestTime',
      method: '$context.httpMethod',
      path: '$context.path',
      status: '$context.status',
      protocol: '$context.protocol',
      responseLength: '$context.responseLength',
      latencyMs: '$context.responseLatency',
      integrationError: '$context.integrationErrorMessage',
    };
    // HttpApi takes no options for the stage it creates; its L1 does.
    const stage = httpApi.defaultStage!.node.defaultChild as CfnStage;
    stage.accessLogSettings = { destinationArn: logGroup.logGroupArn, format: JSON.stringify(fields) };
  }

  /**
   * The agent container (the repository's Dockerfile) on Fargate. Each agent advertises its own task
   * IP to Kafka clients (SPOOL_KAFKA_ADVERTISED_HOST=auto), so clients bootstrap through the load
   * balancer and then talk to the leader of each partition directly, as with Kafka brokers.
   */
  private kafkaAgents(props: KafkaAgentsProps, environment: Record<string, string>) {
    const vpc = props.vpc ?? this.agentVpc();
    const cluster = new Cluster(this, 'Agents', { vpc, containerInsightsV2: ContainerInsights.ENABLED });
    const task = new FargateTaskDefinition(this, 'AgentTask', {
      cpu: props.cpu ?? 1024,
      memoryLimitMiB: props.memoryMiB ?? 2048,
      runtimePlatform: { cpuArchitecture: CpuArchitecture.ARM64, operatingSystemFamily: OperatingSystemFamily.LINUX },
    });
    task.addContainer('agent', {
      image: ContainerImage.fromAsset(repositoryRoot, { file: 'Dockerfile', platform: Platform.LINUX_ARM64 }),
      environment: {
        ...environment,
        SPOOL_HOST: '0.0.0.0',
        SPOOL_HTTP_PORT: '8080',
        SPOOL_KAFKA_PORT: '9092',
        SPOOL_KAFKA_ADVERTISED_HOST: 'auto',
        // The scheduled Lambda runs maintenance; agents only serve.
        SPOOL_MAINTENANCE_INTERVAL_MS: '0',
      },
      portMappings: [{ containerPort: 9092 }, { containerPort: 8080 }],
      logging: LogDrivers.awsLogs({ streamPrefix: 'spool', logRetention: RetentionDays.ONE_MONTH }),
      stopTimeout: Duration.seconds(30),
    });
    Validations.of(task).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The variables the stack sets are configuration (bucket and table names, ports, SPOOL_* settings), and AWS access ' +
        'comes from the task role. What a user adds in `environment` (e.g. SPOOL_AUTH_TOKEN) is stored in the task definition ' +
        'as it is in the Lambda configuration, readable by whoever may describe them (README).',
    });
    Validations.of(task.executionRole!).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken, which the execution role needs to pull the agent image, has no resource-level permissions.',
    });
    this.grantStorage(task.taskRole);
    this.table.grantReadWriteData(task.taskRole);
    const securityGroup = new SecurityGroup(this, 'AgentSecurityGroup', {
      vpc,
      description: 'Spool agents: Kafka 9092 and HTTP 8080 from clients',
    });
    const allowFrom = props.allowFrom ?? Peer.ipv4(vpc.vpcCidrBlock);
    securityGroup.addIngressRule(allowFrom, Port.tcp(9092), 'Kafka clients');
    securityGroup.addIngressRule(allowFrom, Port.tcp(8080), 'HTTP API clients');
    if (!props.allowFrom) {
      // A peer given in props is left to the rule, which can read it.
      Validations.of(securityGroup).acknowledge({
        id: 'AwsSolutions-EC23',
        reason: "Ingress comes from the VPC's own CIDR block, a reference the rule cannot evaluate; it is never 0.0.0.0/0.",
      });
    }
    const service = new FargateService(this, 'AgentService', {
      cluster,
      taskDefinition: task,
      desiredCount: props.desiredCount ?? 2,
      // Rolling deploys replace half the agents at a time; the others keep serving.
      minHealthyPercent: 50,
      securityGroups: [securityGroup],
      circuitBreaker: { rollback: true },
    });
    const loadBalancer = new NetworkLoadBalancer(this, 'KafkaLoadBalancer', { vpc, internetFacing: false, crossZoneEnabled: true });
    Validations.of(loadBalancer).acknowledge({
      id: 'AwsSolutions-ELB2',
      reason:
        'A Network Load Balancer writes access logs for TLS listeners only; the Kafka listener is plain TCP, so there would be none. ' +
        'VPC flow logs record the connections (on for the VPC the stack creates).',
    });
    loadBalancer.addListener('Kafka', { port: 9092, protocol: Protocol.TCP }).addTargets('Agents', {
      port: 9092,
      protocol: Protocol.TCP,
      targets: [service.loadBalancerTarget({ containerName: 'agent', containerPort: 9092 })],
      healthCheck: { protocol: Protocol.TCP, interval: Duration.seconds(10) },
      deregistrationDelay: Duration.seconds(30),
    });
    return { service, loadBalancer, bootstrap: `${loadBalancer.loadBalancerDnsName}:9092` };
  }

  /** The agents' VPC when none is given, with flow logs (kept one month) of its traffic. */
  private agentVpc(): Vpc {
    const flowLogs = new LogGroup(this, 'VpcFlowLogs', { retention: RetentionDays.ONE_MONTH });
    return new Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      flowLogs: { all: { destination: FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: FlowLogTrafficType.ALL } },
    });
  }

  /** Alarms on errors, throttles, latency, commit conflicts and lag; a dashboard of the same. */
  private observe(props: SpoolProps): Dashboard {
    const alarm = (id: string, metric: IMetric, threshold: number, description: string, evaluationPeriods = 5) => {
      const created = new Alarm(this, id, {
        metric,
        threshold,
        evaluationPeriods,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      this.alarms.push(created);
      return created;
    };
    alarm('ApiErrors', spoolMetric('Errors', 'Sum', Duration.minutes(5)), 1, 'The HTTP API answered 5xx (internal errors)', 1);
    alarm(
      'Throttles',
      spoolMetric('Throttles', 'Sum', Duration.minutes(5)),
      10,
      'Storage throttled or was unavailable (429/503 answers)',
      1,
    );
    alarm('Latency', spoolMetric('Latency', 'p99'), props.latencyAlarmMs ?? 1000, 'API latency p99 is high', 3);
    alarm(
      'CommitConflicts',
      spoolMetric('CommitConflicts', 'Sum', Duration.minutes(5)),
      100,
      'Writers keep colliding on the same partitions',
      1,
    );
    alarm(
      'ConsumerLag',
      spoolMetric('ConsumerLag', 'Maximum', Duration.minutes(5)),
      props.lagAlarmRecords ?? 100_000,
      'A consumer group is far behind',
      3,
    );
    alarm('ApiFunctionErrors', this.api.metricErrors({ period: Duration.minutes(5) }), 1, 'The API function failed', 1);
    alarm(
      'MaintenanceFunctionErrors',
      this.maintenance.metricErrors({ period: Duration.minutes(15) }),
      1,
      'The maintenance pass failed',
      1,
    );

    const dashboard = new Dashboard(this, 'Dashboard', { dashboardName: `${Stack.of(this).stackName}-spool` });
    const graph = (title: string, metrics: IMetric[]) => new GraphWidget({ title, left: metrics, width: 12 });
    dashboard.addWidgets(
      graph('Requests', [spoolMetric('Requests', 'Sum')]),
      graph('Latency (ms)', [spoolMetric('Latency', 'p50'), spoolMetric('Latency', 'p99')]),
      graph('Errors, client errors, throttles', [
        spoolMetric('Errors', 'Sum'),
        spoolMetric('ClientErrors', 'Sum'),
        spoolMetric('Throttles', 'Sum'),
      ]),
      graph('Records produced and fetched', [spoolMetric('RecordsProduced', 'Sum'), spoolMetric('RecordsFetched', 'Sum')]),
      graph('Bytes produced', [spoolMetric('BytesProduced', 'Sum')]),
      graph('Commits and commit conflicts', [spoolMetric('Commits', 'Sum'), spoolMetric('CommitConflicts', 'Sum')]),
      graph('Consumer-group lag (largest)', [spoolMetric('ConsumerLag', 'Maximum', Duration.minutes(5))]),
      graph('Functions: errors and duration', [this.api.metricErrors(), this.maintenance.metricErrors(), this.api.metricDuration()]),
    );
    return dashboard;
  }
}

/**
 * Every S3 call of the object store (lib/storage/s3.ts, `…Command`) and the IAM action it needs;
 * the stack grants exactly these, and a test fails when the store sends a call missing here.
 * CreateBucket gets none: the stack creates the bucket and Spool runs with SPOOL_CREATE_STORES=false.
 */
export const s3ActionsByCommand: Readonly<Record<string, string | undefined>> = {
  PutObject: 's3:PutObject',
  GetObject: 's3:GetObject',
  HeadObject: 's3:GetObject',
  // ListBucket also makes S3 answer 404, not 403, for a missing key: the store relies on it.
  ListObjectsV2: 's3:ListBucket',
  HeadBucket: 's3:ListBucket',
  DeleteObjects: 's3:DeleteObject',
  CreateBucket: undefined,
};

/** The library's EMF metrics (lib/metrics.ts), in aggregate. */
function spoolMetric(name: string, statistic: string, period = Duration.minutes(1)): Metric {
  return new Metric({ namespace: metricsNamespace, metricName: name, statistic, period });
}

/** A stack holding one Spool, with its URL, bucket and table as outputs. */
export class SpoolStack extends Stack {
  readonly spool: Spool;
  constructor(scope: Construct, id: string, props: StackProps & { spool?: SpoolProps } = {}) {
    super(scope, id, props);
    this.spool = new Spool(this, 'Spool', props.spool);
    new CfnOutput(this, 'ApiUrl', { value: this.spool.url });
    new CfnOutput(this, 'BucketName', { value: this.spool.bucket.bucketName });
    new CfnOutput(this, 'TableName', { value: this.spool.table.tableName });
    if (this.spool.kafka) new CfnOutput(this, 'KafkaBootstrap', { value: this.spool.kafka.bootstrap });
  }
}
