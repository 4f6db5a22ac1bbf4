/**
 * cdk-nag's AwsSolutions rules over the stack in every configuration (configurations.ts): any error
 * or warning the stack has not acknowledged fails, listed with the rule, the resource and the rule's
 * explanation. Acknowledgements live in infra/spool-stack.ts beside the resources, each with its reason.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations, type PolicyViolation } from 'aws-cdk-lib';
import { Peer } from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurationNames, synthesizeConfigurations, type ConfigurationName } from './configurations.js';
import { SpoolStack } from '../../infra/spool-stack.js';

describe('infra > cdk-nag AwsSolutions', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'spool-cdk-nag-'));
  let stacks: Record<ConfigurationName, SpoolStack>;
  beforeAll(() => {
    stacks = synthesizeConfigurations(join(outdir, 'configurations')).stacks;
  }, 120_000);
  afterAll(() => rmSync(outdir, { recursive: true, force: true }), 60_000); // the synthesized assets are large: a busy disk takes a while

  it.each(configurationNames)('finds nothing unacknowledged with %s', (name) => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(stacks[name]);
    expect(report.violations.map(describeViolation)).toEqual([]);
  });

  it('acknowledges only the reviewed rules, each with a reason', () => {
    // aws-cdk-lib acknowledges rules of its own (e.g. `CloudFormation-Validate::…`) the same way.
    const acknowledged = configurationNames
      .flatMap((name) => acknowledgements(stacks[name]))
      .filter(({ id }) => id.startsWith('AwsSolutions-'));
    expect(new Set(acknowledged.map(({ id }) => id.replace(/\[.*$/, '')))).toEqual(
      new Set([
        'AwsSolutions-S1',
        'AwsSolutions-IAM5',
        'AwsSolutions-L1',
        'AwsSolutions-APIG4',
        'AwsSolutions-ECS2',
        'AwsSolutions-EC23',
        'AwsSolutions-ELB2',
      ]),
    );
    for (const { id, reason } of acknowledged) expect(reason.length, `reason for ${id}`).toBeGreaterThan(60);
  });

  it('reports what the stack has not acknowledged: Kafka ports opened to the internet', () => {
    // The acknowledgement for the agents' ingress covers the default (the VPC's CIDR) only.
    const app = new App({ outdir: join(outdir, 'open'), context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new SpoolStack(app, 'Open', { spool: { kafkaAgents: { allowFrom: Peer.anyIpv4() } } });
    app.synth();
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(
      report.violations.map((violation) => [violation.ruleName, violation.violatingResources.map((resource) => resource.constructPath)]),
    ).toEqual([['AwsSolutions-EC23', ['Open/Spool/AgentSecurityGroup/Resource']]]);
  }, 120_000);
});

function describeViolation(violation: PolicyViolation): string {
  const where = violation.violatingResources.map((resource) => resource.constructPath).join(', ');
  return `${violation.severity} ${violation.ruleName} at ${where}: ${violation.description}`;
}

/** The rules acknowledged anywhere in a stack, read back from construct metadata. */
function acknowledgements(scope: IConstruct): { id: string; reason: string }[] {
  return scope.node
    .findAll()
    .flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) =>
          Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ id: id.replace(/^annotation::/i, ''), reason })),
        ),
    );
}
