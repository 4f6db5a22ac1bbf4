/**
 * Where Spool answers Kafka's command-line tools, or a client program's steps, differently from
 * Apache Kafka on purpose: the rows differential.test.ts accepts (the interop README's "Differential
 * conformance" shows the same table). A row says which step (with `client`, a client program's step,
 * by the name it prints), against which Kafka release, what differs, why, and turns Kafka's result
 * into the one Spool must give (difference-rows.ts): the rest of the step is still compared, and a
 * row whose difference no longer occurs fails the test (remove it). A difference not listed here
 * fails the test.
 *
 * Missing features are not listed: a step fails until Spool serves what it needs.
 */
import type { IntendedDifference } from './difference-rows.js';
import { kafka3Version, kafka4Version, type ToolResult } from './differential-targets.js';

const withoutMinInsyncReplicas = (kafka: ToolResult): ToolResult => ({
  ...kafka,
  stdout: kafka.stdout.replace(
    /Configs: (.*)/,
    (_, configs: string) => `Configs: ${configs.replace(/(^|,)min\.insync\.replicas=\d+(?=,|$)/, '').replace(/^,/, '')}`,
  ),
});

const minInsyncReplicas = {
  kafka: [kafka4Version],
  what: "Kafka 4.x lists min.insync.replicas=1 among the topic's configs",
  why: 'Kafka 4 sets min.insync.replicas as a cluster-wide dynamic config (eligible leader replicas, KIP-966) and kafka-topics shows every config that is not a static default; Spool has no replicas and no such cluster config, and answers as Kafka 3.9 does',
  spool: withoutMinInsyncReplicas,
} as const;

export const intendedDifferences: readonly IntendedDifference[] = [
  {
    step: 'topics-create-rf3',
    what: 'Spool creates a topic with replication factor 3; a one-broker Kafka refuses (INVALID_REPLICATION_FACTOR)',
    why: "Spool has no replicas: durability is S3's, so any replication factor is accepted and ignored (lib/kafka/handlers/admin.ts)",
    spool: () => ({ exit: 0, stdout: 'Created topic quickstart-rf3.', stderr: '' }),
  },
  { step: 'topics-describe', ...minInsyncReplicas },
  {
    step: 'groups-describe-deleted',
    kafka: [kafka3Version],
    what: 'Kafka 3.9 says "Consumer group \'quickstart-group\' does not exist."; Spool fails with GroupIdNotFoundException, as Kafka 4.x does',
    why: "Kafka 3.9 answers DescribeGroups for an unknown group with the state Dead and no error; Kafka 4's group coordinator answers GROUP_ID_NOT_FOUND with an error message; Spool follows 4.x, the newer behaviour",
    spool: () => ({
      exit: 0,
      stdout:
        'Error: Executing consumer group command failed due to org.apache.kafka.common.errors.GroupIdNotFoundException: Group quickstart-group not found.',
      stderr: [
        'java.util.concurrent.ExecutionException: org.apache.kafka.common.errors.GroupIdNotFoundException: Group quickstart-group not found.',
        'Caused by: org.apache.kafka.common.errors.GroupIdNotFoundException: Group quickstart-group not found.',
      ].join('\n'),
    }),
  },
  { step: 'topics-describe-altered', ...minInsyncReplicas },
];
