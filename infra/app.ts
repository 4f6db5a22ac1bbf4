/**
 * The CDK app: `npx cdk deploy` (or `npm run synth` to see the template, offline). Synthesis applies
 * cdk-nag's AwsSolutions rules and stops on any finding the stack has not acknowledged.
 */
import { App, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SpoolStack } from './spool-stack.js';

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
new SpoolStack(app, app.node.tryGetContext('stackName') ?? 'Spool', {
  spool: {
    apiEndpoint: app.node.tryGetContext('apiEndpoint') ?? 'function-url',
    removalPolicy: app.node.tryGetContext('destroyOnDelete') === 'true' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    // -c kafkaAgents=<count>: Kafka agents on Fargate behind a Network Load Balancer.
    kafkaAgents: app.node.tryGetContext('kafkaAgents') ? { desiredCount: Number(app.node.tryGetContext('kafkaAgents')) } : undefined,
  },
});
app.synth();
