/**
 * Spool on AWS as one construct: the S3 bucket for segments, the DynamoDB table for coordination,
 * the HTTP API as a Lambda function (behind a function URL or an API Gateway HTTP API) and the
 * maintenance pass as a Lambda on an EventBridge schedule. Access is granted with grant* calls only,
 * scoped to the bucket and the table. The functions write CloudWatch EMF metrics (lib/metrics.ts);
 * alarms and a dashboard watch them. Nothing runs while idle: the cost at rest is the stored data.
 */
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Architecture, FunctionUrlAuthType, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import { Alarm, ComparisonOperator, Dashboard, GraphWidget, Metric, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
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
}

const functionsDir = fileURLToPath(new URL('../functions/', import.meta.url));

export class Spool extends Construct {
  readonly bucket: Bucket;
  readonly table: Table;
  readonly api: NodejsFunction;
  readonly maintenance: NodejsFunction;
  readonly url: string;
  /** Every alarm, for callers to add actions (e.g. `alarm.addAlarmAction(new SnsAction(topic))`). */
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;

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
    });

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
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      environment,
      logRetention: RetentionDays.ONE_MONTH,
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

    this.api = new NodejsFunction(this, 'Api', {
      ...common,
      entry: `${functionsDir}api.ts`,
      handler: 'handler',
      memorySize: props.apiMemoryMb ?? 1024,
      timeout: Duration.seconds(30),
      description: 'Spool HTTP API',
    });
    this.maintenance = new NodejsFunction(this, 'Maintenance', {
      ...common,
      entry: `${functionsDir}maintenance.ts`,
      handler: 'handler',
      memorySize: 1024,
      timeout: Duration.minutes(5),
      description: 'Spool maintenance pass: compaction, retention, garbage collection',
    });
    for (const fn of [this.api, this.maintenance]) {
      this.bucket.grantReadWrite(fn);
      this.bucket.grantDelete(fn);
      this.table.grantReadWriteData(fn);
    }
    new Rule(this, 'MaintenanceSchedule', {
      schedule: Schedule.rate(props.maintenanceInterval ?? Duration.minutes(5)),
      targets: [new LambdaFunction(this.maintenance, { retryAttempts: 0 })],
    });

    this.dashboard = this.observe(props);

    if ((props.apiEndpoint ?? 'function-url') === 'http-api') {
      const httpApi = new HttpApi(this, 'HttpApi', { defaultIntegration: new HttpLambdaIntegration('ApiIntegration', this.api) });
      this.url = httpApi.apiEndpoint;
    } else {
      this.url = this.api.addFunctionUrl({ authType: props.functionUrlAuth ?? FunctionUrlAuthType.AWS_IAM }).url;
    }
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
    alarm('Throttles', spoolMetric('Throttles', 'Sum', Duration.minutes(5)), 10, 'Storage throttled or was unavailable (429/503 answers)', 1);
    alarm('Latency', spoolMetric('Latency', 'p99'), props.latencyAlarmMs ?? 1000, 'API latency p99 is high', 3);
    alarm('CommitConflicts', spoolMetric('CommitConflicts', 'Sum', Duration.minutes(5)), 100, 'Writers keep colliding on the same partitions', 1);
    alarm('ConsumerLag', spoolMetric('ConsumerLag', 'Maximum', Duration.minutes(5)), props.lagAlarmRecords ?? 100_000, 'A consumer group is far behind', 3);
    alarm('ApiFunctionErrors', this.api.metricErrors({ period: Duration.minutes(5) }), 1, 'The API function failed', 1);
    alarm('MaintenanceFunctionErrors', this.maintenance.metricErrors({ period: Duration.minutes(15) }), 1, 'The maintenance pass failed', 1);

    const dashboard = new Dashboard(this, 'Dashboard', { dashboardName: `${Stack.of(this).stackName}-spool` });
    const graph = (title: string, metrics: IMetric[]) => new GraphWidget({ title, left: metrics, width: 12 });
    dashboard.addWidgets(
      graph('Requests', [spoolMetric('Requests', 'Sum')]),
      graph('Latency (ms)', [spoolMetric('Latency', 'p50'), spoolMetric('Latency', 'p99')]),
      graph('Errors, client errors, throttles', [spoolMetric('Errors', 'Sum'), spoolMetric('ClientErrors', 'Sum'), spoolMetric('Throttles', 'Sum')]),
      graph('Records produced and fetched', [spoolMetric('RecordsProduced', 'Sum'), spoolMetric('RecordsFetched', 'Sum')]),
      graph('Bytes produced', [spoolMetric('BytesProduced', 'Sum')]),
      graph('Commits and commit conflicts', [spoolMetric('Commits', 'Sum'), spoolMetric('CommitConflicts', 'Sum')]),
      graph('Consumer-group lag (largest)', [spoolMetric('ConsumerLag', 'Maximum', Duration.minutes(5))]),
      graph('Functions: errors and duration', [this.api.metricErrors(), this.maintenance.metricErrors(), this.api.metricDuration()]),
    );
    return dashboard;
  }
}

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
  }
}
