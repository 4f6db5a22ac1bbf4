/**
 * The Kafka quickstart, step by step, with Apache Kafka's own command-line tools: what
 * differential.test.ts runs against Spool and against Apache Kafka, and how it normalises what the
 * tools print before comparing.
 *
 * Every step runs against a fresh server in the same order, so topic and group names are fixed.
 * The keys are chosen so that each producer run lands where the steps after it expect
 * (`partitionForKey`, murmur2 over 3 partitions): run A puts two records in each partition, run B
 * one more in each, later than all of run A, so that `--time -3` (max timestamp) has one answer.
 *
 * Normalisation (applied to both sides alike): topic ids, member ids, host:port addresses and
 * broker ids become placeholders; runs of blanks become one space (the tools size their columns to
 * the widest value); the configs kafka-topics lists are sorted (it prints them in the server's
 * order); stack frames go. A step adds its own: consumer output is sorted (partitions
 * interleave), the committed offset and lag of a group whose member is still committing are masked.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Background, Session, ToolResult } from './differential-targets.js';

export const tools = {
  topics: 'org.apache.kafka.tools.TopicCommand',
  configs: 'org.apache.kafka.tools.ConfigCommand',
  producer: 'org.apache.kafka.tools.ConsoleProducer',
  consumer: 'org.apache.kafka.tools.consumer.ConsoleConsumer',
  groups: 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
  getOffsets: 'org.apache.kafka.tools.GetOffsetShell',
  deleteRecords: 'org.apache.kafka.tools.DeleteRecordsCommand',
  shareGroups: 'org.apache.kafka.tools.consumer.group.ShareGroupCommand',
} as const;

export interface Step {
  /** Stable id, used by the intended-differences table. */
  readonly id: string;
  /** The command, as a person would type it. */
  readonly command: string;
  run(session: Session): Promise<ToolResult>;
  /**
   * The exit status the step has on Apache Kafka (0 unless given): checked, so that a step which
   * fails the same way everywhere (a wrong option) does not pass for a conforming one.
   */
  readonly kafkaExit?: number;
  /** Extra normalisation for this step, after the common one. */
  readonly normalise?: (result: ToolResult) => ToolResult;
}

export const topic = 'quickstart';
export const otherTopic = 'quickstart-other';
export const group = 'quickstart-group';
export const liveGroup = 'quickstart-live';

/** Run A: two records per partition of the 3-partition topic (murmur2: alice, bob → 0; dave, frank → 1; carol, erin → 2). */
const runA = ['alice:a1', 'bob:b1', 'carol:c1', 'dave:d1', 'erin:e1', 'frank:f1'];
/** Run B: one record per partition (grace → 0, heidi → 1, ivan → 2). */
const runB = ['grace:g1', 'heidi:h1', 'ivan:i1'];
/** The record that ends the live consumer (judy → 2). */
const runC = ['judy:j1'];

const consumerFormat = [
  '--formatter-property',
  'print.key=true',
  '--formatter-property',
  'print.partition=true',
  '--formatter-property',
  'print.offset=true',
];

/** A step that runs one tool once. */
function tool(id: string, command: string, mainClass: string, args: readonly string[], extra: Partial<Step> = {}): Step {
  return { id, command, run: (session) => session.tool(mainClass, args), ...extra };
}

/** A kafka-configs step on the quickstart topic: `kafka-configs --entity-type topics --entity-name quickstart ARGS`. */
function topicConfigs(id: string, args: readonly string[], extra: Partial<Step> = {}): Step {
  const all = ['--entity-type', 'topics', '--entity-name', topic, ...args];
  return tool(id, `kafka-configs ${all.join(' ')}`, tools.configs, all, extra);
}

const sortStdout = (result: ToolResult): ToolResult => ({ ...result, stdout: sortLines(result.stdout) });

function sortLines(text: string): string {
  const lines = text.split('\n').filter((line) => line.length > 0);
  return lines.length === 0 ? '' : `${lines.sort().join('\n')}\n`;
}

/**
 * `kafka-consumer-groups --describe` of a group whose member is still running: the committed offset
 * and the lag depend on when its last auto-commit ran (every 5 s), so those two columns are masked.
 */
const maskCommittedOffsets = (result: ToolResult): ToolResult => maskCommittedOffsetsOf(liveGroup, result);

function maskCommittedOffsetsOf(groupId: string, result: ToolResult): ToolResult {
  const stdout = result.stdout
    .split('\n')
    .map((line) => {
      const fields = line.split(' ');
      if (fields[0] !== groupId || fields.length < 9) return line;
      fields[3] = '<committed>';
      fields[5] = '<lag>';
      return fields.join(' ');
    })
    .join('\n');
  return { ...result, stdout };
}

/**
 * An admin client config for the tools that would otherwise retry a failing call for the default
 * 60 s (default.api.timeout.ms): 15 s, the same on every server.
 */
function adminConfig(session: Session): string {
  const file = join(session.scratch, 'admin.properties');
  writeFileSync(file, 'default.api.timeout.ms=15000\nrequest.timeout.ms=15000\n');
  return file;
}

/** kafka-console-producer with keys (`key:value` lines). */
const produceKeyed = (session: Session, topicName: string, records: readonly string[]) =>
  session.tool(
    tools.producer,
    ['--topic', topicName, '--reader-property', 'parse.key=true', '--reader-property', 'key.separator=:'],
    `${records.join('\n')}\n`,
  );

/**
 * A console consumer that stays in its group until its 10th record, one per server: `start` runs it
 * and answers once it has printed the 9 records produced so far; `done` produces the 10th (run C),
 * after which it commits and leaves, and answers what it printed.
 */
function liveConsumer(topicName: string, groupId: string, consumerArgs: readonly string[] = []): Record<'start' | 'done', Step['run']> {
  const bySession = new Map<string, Background>();
  return {
    start: async (session) => {
      const live = session.background(tools.consumer, [
        '--topic',
        topicName,
        '--group',
        groupId,
        ...consumerArgs,
        '--from-beginning',
        '--max-messages',
        '10',
        '--timeout-ms',
        '90000',
        ...consumerFormat,
      ]);
      bySession.set(session.name, live);
      await live.waitForLines(9, 60_000, /^Partition:/);
      return { exit: 0, stdout: sortLines(live.lines.map((line) => `${line}\n`).join('')), stderr: '' };
    },
    done: async (session) => {
      const produced = await produceKeyed(session, topicName, runC);
      const consumer = bySession.get(session.name);
      if (!consumer) return { exit: -1, stdout: '', stderr: 'the live consumer did not start' };
      const finished = await consumer.finished(60_000);
      return { exit: produced.exit + finished.exit, stdout: sortLines(finished.stdout), stderr: produced.stderr + finished.stderr };
    },
  };
}

/** From `groups-live-consumer` to `groups-live-consumer-done`. */
const live = liveConsumer(topic, liveGroup);

export const steps: readonly Step[] = [
  tool(
    'topics-create',
    `kafka-topics --create --topic ${topic} --partitions 2 --replication-factor 1 --config retention.ms=86400000 --config segment.bytes=1048576`,
    tools.topics,
    [
      '--create',
      '--topic',
      topic,
      '--partitions',
      '2',
      '--replication-factor',
      '1',
      '--config',
      'retention.ms=86400000',
      '--config',
      'segment.bytes=1048576',
    ],
  ),
  tool('topics-create-existing', `kafka-topics --create --topic ${topic}`, tools.topics, ['--create', '--topic', topic], { kafkaExit: 1 }),
  tool('topics-create-other', `kafka-topics --create --topic ${otherTopic} --partitions 1`, tools.topics, [
    '--create',
    '--topic',
    otherTopic,
    '--partitions',
    '1',
  ]),
  tool('topics-list', 'kafka-topics --list', tools.topics, ['--list']),
  tool('topics-describe', `kafka-topics --describe --topic ${topic}`, tools.topics, ['--describe', '--topic', topic]),
  tool('topics-alter-partitions', `kafka-topics --alter --topic ${topic} --partitions 3`, tools.topics, [
    '--alter',
    '--topic',
    topic,
    '--partitions',
    '3',
  ]),
  tool(
    'topics-alter-fewer-partitions',
    `kafka-topics --alter --topic ${topic} --partitions 2`,
    tools.topics,
    ['--alter', '--topic', topic, '--partitions', '2'],
    { kafkaExit: 1 },
  ),
  tool('topics-describe-altered', `kafka-topics --describe --topic ${topic}`, tools.topics, ['--describe', '--topic', topic]),
  topicConfigs('configs-describe', ['--describe']),
  topicConfigs('configs-add', ['--alter', '--add-config', 'retention.ms=3600000,cleanup.policy=delete']),
  topicConfigs('configs-describe-added', ['--describe']),
  topicConfigs('configs-delete', ['--alter', '--delete-config', 'retention.ms']),
  topicConfigs('configs-describe-deleted', ['--describe']),
  topicConfigs('configs-add-unknown', ['--alter', '--add-config', 'no.such.config=1'], { kafkaExit: 1 }),
  {
    id: 'produce-keyed',
    command: `kafka-console-producer --topic ${topic} --reader-property parse.key=true --reader-property key.separator=: (6 records)`,
    run: (session) => produceKeyed(session, topic, runA),
  },
  {
    id: 'produce-keyed-later',
    command: `kafka-console-producer --topic ${topic} --reader-property parse.key=true (3 records, later)`,
    run: (session) => produceKeyed(session, topic, runB),
  },
  tool('get-offsets-latest', `kafka-get-offsets --topic ${topic} --time -1`, tools.getOffsets, ['--topic', topic, '--time', '-1']),
  tool('get-offsets-earliest', `kafka-get-offsets --topic ${topic} --time -2`, tools.getOffsets, ['--topic', topic, '--time', '-2']),
  tool('get-offsets-max-timestamp', `kafka-get-offsets --topic ${topic} --time -3`, tools.getOffsets, ['--topic', topic, '--time', '-3']),
  tool(
    'consume-group',
    `kafka-console-consumer --topic ${topic} --group ${group} --from-beginning --max-messages 9 --formatter-property print.key=true …`,
    tools.consumer,
    ['--topic', topic, '--group', group, '--from-beginning', '--max-messages', '9', '--timeout-ms', '60000', ...consumerFormat],
    { normalise: sortStdout },
  ),
  tool('groups-list', 'kafka-consumer-groups --list', tools.groups, ['--list']),
  tool('groups-list-state', 'kafka-consumer-groups --list --state', tools.groups, ['--list', '--state']),
  tool('groups-describe', `kafka-consumer-groups --describe --group ${group}`, tools.groups, ['--describe', '--group', group]),
  {
    id: 'groups-live-consumer',
    command: `kafka-console-consumer --topic ${topic} --group ${liveGroup} --from-beginning --max-messages 10 (stays in the group)`,
    run: live.start,
  },
  tool('groups-describe-members', `kafka-consumer-groups --describe --group ${liveGroup} --members`, tools.groups, [
    '--describe',
    '--group',
    liveGroup,
    '--members',
  ]),
  tool('groups-describe-members-verbose', `kafka-consumer-groups --describe --group ${liveGroup} --members --verbose`, tools.groups, [
    '--describe',
    '--group',
    liveGroup,
    '--members',
    '--verbose',
  ]),
  tool('groups-describe-state', `kafka-consumer-groups --describe --group ${liveGroup} --state`, tools.groups, [
    '--describe',
    '--group',
    liveGroup,
    '--state',
  ]),
  tool(
    'groups-describe-offsets-live',
    `kafka-consumer-groups --describe --group ${liveGroup} --offsets`,
    tools.groups,
    ['--describe', '--group', liveGroup, '--offsets'],
    { normalise: maskCommittedOffsets },
  ),
  tool(
    'groups-reset-active',
    `kafka-consumer-groups --reset-offsets --group ${liveGroup} --topic ${topic} --to-earliest --execute`,
    tools.groups,
    ['--reset-offsets', '--group', liveGroup, '--topic', topic, '--to-earliest', '--execute'],
  ),
  {
    id: 'groups-live-consumer-done',
    command: `kafka-console-producer --topic ${topic} (1 record: the live consumer's 10th, it commits and leaves)`,
    run: live.done,
  },
  tool('groups-list-state-both', 'kafka-consumer-groups --list --state', tools.groups, ['--list', '--state'], { normalise: sortStdout }),
  tool('groups-reset-dry-run', `kafka-consumer-groups --reset-offsets --group ${group} --topic ${topic} --to-earliest`, tools.groups, [
    '--reset-offsets',
    '--group',
    group,
    '--topic',
    topic,
    '--to-earliest',
  ]),
  tool(
    'groups-reset-earliest',
    `kafka-consumer-groups --reset-offsets --group ${group} --topic ${topic} --to-earliest --execute`,
    tools.groups,
    ['--reset-offsets', '--group', group, '--topic', topic, '--to-earliest', '--execute'],
  ),
  tool('groups-describe-reset', `kafka-consumer-groups --describe --group ${group}`, tools.groups, ['--describe', '--group', group]),
  tool(
    'groups-reset-to-offset',
    `kafka-consumer-groups --reset-offsets --group ${group} --topic ${topic}:0,1 --to-offset 2 --execute`,
    tools.groups,
    ['--reset-offsets', '--group', group, '--topic', `${topic}:0,1`, '--to-offset', '2', '--execute'],
  ),
  tool(
    'groups-reset-past-end',
    `kafka-consumer-groups --reset-offsets --group ${group} --topic ${topic}:2 --to-offset 50 --execute`,
    tools.groups,
    ['--reset-offsets', '--group', group, '--topic', `${topic}:2`, '--to-offset', '50', '--execute'],
  ),
  tool(
    'consume-after-reset',
    `kafka-console-consumer --topic ${topic} --group ${group} --max-messages 2 (offsets 2 of partitions 0 and 1)`,
    tools.consumer,
    ['--topic', topic, '--group', group, '--max-messages', '2', '--timeout-ms', '20000', ...consumerFormat],
    { normalise: sortStdout },
  ),
  tool('groups-delete-offsets', `kafka-consumer-groups --delete-offsets --group ${group} --topic ${topic}:0`, tools.groups, [
    '--delete-offsets',
    '--group',
    group,
    '--topic',
    `${topic}:0`,
  ]),
  tool('groups-describe-after-delete-offsets', `kafka-consumer-groups --describe --group ${group}`, tools.groups, [
    '--describe',
    '--group',
    group,
  ]),
  tool('groups-delete', `kafka-consumer-groups --delete --group ${group}`, tools.groups, ['--delete', '--group', group]),
  tool('groups-delete-missing', 'kafka-consumer-groups --delete --group no-such-group', tools.groups, [
    '--delete',
    '--group',
    'no-such-group',
  ]),
  tool('groups-describe-deleted', `kafka-consumer-groups --describe --group ${group}`, tools.groups, ['--describe', '--group', group]),
  tool('groups-list-after-delete', 'kafka-consumer-groups --list', tools.groups, ['--list'], { normalise: sortStdout }),
  {
    id: 'delete-records',
    command: `kafka-delete-records --offset-json-file offsets.json (${topic}-0 before 1, ${topic}-1 before 2)`,
    run: (session) => {
      const file = join(session.scratch, 'offsets.json');
      writeFileSync(
        file,
        JSON.stringify({
          version: 1,
          partitions: [
            { topic, partition: 0, offset: 1 },
            { topic, partition: 1, offset: 2 },
          ],
        }),
      );
      return session.tool(tools.deleteRecords, ['--offset-json-file', file, '--command-config', adminConfig(session)]);
    },
    normalise: sortStdout,
  },
  tool('get-offsets-after-delete-records', `kafka-get-offsets --topic ${topic} --time -2`, tools.getOffsets, [
    '--topic',
    topic,
    '--time',
    '-2',
  ]),
  {
    id: 'delete-records-past-end',
    command: `kafka-delete-records --offset-json-file offsets.json (${topic}-2 before 99)`,
    run: (session) => {
      const file = join(session.scratch, 'offsets-past-end.json');
      writeFileSync(file, JSON.stringify({ version: 1, partitions: [{ topic, partition: 2, offset: 99 }] }));
      return session.tool(tools.deleteRecords, ['--offset-json-file', file, '--command-config', adminConfig(session)]);
    },
  },
  tool('topics-delete', `kafka-topics --delete --topic ${topic}`, tools.topics, ['--delete', '--topic', topic]),
  tool('topics-list-after-delete', 'kafka-topics --list --exclude-internal', tools.topics, ['--list', '--exclude-internal']),
  tool('topics-describe-deleted', `kafka-topics --describe --topic ${topic}`, tools.topics, ['--describe', '--topic', topic], {
    kafkaExit: 1,
  }),
  tool('topics-delete-missing', `kafka-topics --delete --topic ${topic}`, tools.topics, ['--delete', '--topic', topic], { kafkaExit: 1 }),
  tool(
    'topics-create-rf3',
    'kafka-topics --create --topic quickstart-rf3 --replication-factor 3',
    tools.topics,
    ['--create', '--topic', 'quickstart-rf3', '--partitions', '1', '--replication-factor', '3'],
    { kafkaExit: 1 },
  ),
];

/**
 * KIP-848 with Kafka 4.x's own tools: the console consumer with group.protocol=consumer, then the
 * group as kafka-consumer-groups shows a consumer-protocol group (ConsumerGroupDescribe: member and
 * target epochs and assignments). Run against Kafka 4.x only (Kafka 3.9 does not serve the protocol
 * by default), on a topic and groups of their own. A 4.x client names its member by a Uuid it makes
 * (KIP-1082): the 22-character ids become placeholders.
 */
export const kip848Topic = 'quickstart-848';
export const kip848Group = 'quickstart-848-group';
export const kip848LiveGroup = 'quickstart-848-live';
const consumerProtocol = ['--consumer-property', 'group.protocol=consumer'];
const kip848Live = liveConsumer(kip848Topic, kip848LiveGroup, consumerProtocol);

/** The header and the lines naming these steps' groups, sorted: other steps' groups live on the same servers. */
function onlyKip848Groups(result: ToolResult): ToolResult {
  const [header = '', ...rest] = result.stdout.split('\n');
  const kept = rest.filter((line) => line.includes(kip848Group) || line.includes(kip848LiveGroup)).sort();
  return { ...result, stdout: [header, ...kept].join('\n') };
}

const memberUuids = (result: ToolResult): ToolResult => ({
  ...result,
  stdout: result.stdout.replace(/(^|\s)[A-Za-z0-9_-]{22}(?=\s|$)/gm, '$1<member-id>'),
});

/**
 * `--describe --members --verbose` of a consumer-protocol group, member ids and epochs masked: Kafka
 * 4.4 computes a new member's target assignment after answering its join (first an empty assignment
 * at epoch 2, then the partitions at epoch 3), so which epoch the tool sees depends on when it asks;
 * Spool assigns in the join (epoch 1). Clients only echo epochs back.
 */
function membersWithoutEpochs(result: ToolResult): ToolResult {
  const stdout = memberUuids(result)
    .stdout.split('\n')
    .map((line) => {
      const fields = line.split(' ');
      if (fields[0] !== kip848LiveGroup || fields.length !== 9) return line;
      fields[5] = '<epoch>';
      fields[7] = '<epoch>';
      return fields.join(' ');
    })
    .join('\n');
  return { ...result, stdout };
}

export const kip848Steps: readonly Step[] = [
  tool('kip848-topics-create', `kafka-topics --create --topic ${kip848Topic} --partitions 3`, tools.topics, [
    '--create',
    '--topic',
    kip848Topic,
    '--partitions',
    '3',
  ]),
  {
    id: 'kip848-produce',
    command: `kafka-console-producer --topic ${kip848Topic} --reader-property parse.key=true (9 records)`,
    run: (session) => produceKeyed(session, kip848Topic, [...runA, ...runB]),
  },
  tool(
    'kip848-consume',
    `kafka-console-consumer --topic ${kip848Topic} --group ${kip848Group} --consumer-property group.protocol=consumer --from-beginning --max-messages 9`,
    tools.consumer,
    [
      '--topic',
      kip848Topic,
      '--group',
      kip848Group,
      ...consumerProtocol,
      '--from-beginning',
      '--max-messages',
      '9',
      '--timeout-ms',
      '60000',
      ...consumerFormat,
    ],
    { normalise: sortStdout },
  ),
  tool('kip848-groups-list-type', 'kafka-consumer-groups --list --type', tools.groups, ['--list', '--type'], {
    normalise: onlyKip848Groups,
  }),
  tool('kip848-groups-describe', `kafka-consumer-groups --describe --group ${kip848Group}`, tools.groups, [
    '--describe',
    '--group',
    kip848Group,
  ]),
  tool('kip848-groups-describe-state', `kafka-consumer-groups --describe --group ${kip848Group} --state`, tools.groups, [
    '--describe',
    '--group',
    kip848Group,
    '--state',
  ]),
  {
    id: 'kip848-live-consumer',
    command: `kafka-console-consumer --topic ${kip848Topic} --group ${kip848LiveGroup} --consumer-property group.protocol=consumer --max-messages 10 (stays in the group)`,
    run: kip848Live.start,
  },
  tool(
    'kip848-groups-describe-members',
    `kafka-consumer-groups --describe --group ${kip848LiveGroup} --members --verbose`,
    tools.groups,
    ['--describe', '--group', kip848LiveGroup, '--members', '--verbose'],
    { normalise: membersWithoutEpochs },
  ),
  tool('kip848-groups-describe-state-live', `kafka-consumer-groups --describe --group ${kip848LiveGroup} --state`, tools.groups, [
    '--describe',
    '--group',
    kip848LiveGroup,
    '--state',
  ]),
  tool(
    'kip848-groups-describe-offsets-live',
    `kafka-consumer-groups --describe --group ${kip848LiveGroup} --offsets`,
    tools.groups,
    ['--describe', '--group', kip848LiveGroup, '--offsets'],
    { normalise: (result) => memberUuids(maskCommittedOffsetsOf(kip848LiveGroup, result)) },
  ),
  tool(
    'kip848-groups-delete-active',
    `kafka-consumer-groups --delete --group ${kip848LiveGroup} (while its member is live)`,
    tools.groups,
    ['--delete', '--group', kip848LiveGroup],
  ),
  {
    id: 'kip848-live-consumer-done',
    command: `kafka-console-producer --topic ${kip848Topic} (1 record: the live consumer's 10th, it commits and leaves)`,
    run: kip848Live.done,
  },
  tool('kip848-groups-describe-left', `kafka-consumer-groups --describe --group ${kip848LiveGroup}`, tools.groups, [
    '--describe',
    '--group',
    kip848LiveGroup,
  ]),
  tool('kip848-groups-delete', `kafka-consumer-groups --delete --group ${kip848LiveGroup}`, tools.groups, [
    '--delete',
    '--group',
    kip848LiveGroup,
  ]),
];

/**
 * Share groups (KIP-932) with Kafka 4.x's kafka-share-groups.sh and kafka-configs.sh: a group
 * config, offsets reset to the earliest, the latest (dry run) and an offset, described with their
 * lag, listed, described by state and members, offsets deleted and the group deleted. No consumer
 * runs, so every answer is deterministic; against Kafka 4.x only (3.9 has no share groups).
 */
export const shareTopic = 'quickstart-share';
export const shareGroup = 'quickstart-share-group';
const shareGroupArgs = (...args: string[]) => ['--group', shareGroup, ...args];
const shareTool = (id: string, args: readonly string[], extra: Partial<Step> = {}) =>
  tool(id, `kafka-share-groups ${args.join(' ')}`, tools.shareGroups, args, extra);
/** The lines naming this scenario's share group: the client program's group lives on the same servers. */
const onlyShareGroup = (result: ToolResult): ToolResult => ({
  ...result,
  stdout: result.stdout
    .split('\n')
    .filter((line, index) => index === 0 || line.includes(shareGroup))
    .join('\n'),
});

export const shareSteps: readonly Step[] = [
  tool('share-topics-create', `kafka-topics --create --topic ${shareTopic} --partitions 3`, tools.topics, [
    '--create',
    '--topic',
    shareTopic,
    '--partitions',
    '3',
  ]),
  {
    id: 'share-produce',
    command: `kafka-console-producer --topic ${shareTopic} --reader-property parse.key=true (9 records, 3 per partition)`,
    run: (session) => produceKeyed(session, shareTopic, [...runA, ...runB]),
  },
  tool(
    'share-configs-alter',
    `kafka-configs --entity-type groups --entity-name ${shareGroup} --alter --add-config share.auto.offset.reset=earliest`,
    tools.configs,
    ['--entity-type', 'groups', '--entity-name', shareGroup, '--alter', '--add-config', 'share.auto.offset.reset=earliest'],
  ),
  tool('share-configs-describe', `kafka-configs --entity-type groups --entity-name ${shareGroup} --describe`, tools.configs, [
    '--entity-type',
    'groups',
    '--entity-name',
    shareGroup,
    '--describe',
  ]),
  shareTool('share-describe-unknown', ['--describe', ...shareGroupArgs()]),
  shareTool('share-reset-earliest', ['--reset-offsets', ...shareGroupArgs('--topic', shareTopic, '--to-earliest', '--execute')]),
  shareTool('share-describe', ['--describe', ...shareGroupArgs()]),
  shareTool('share-reset-latest-dry-run', ['--reset-offsets', ...shareGroupArgs('--topic', shareTopic, '--to-latest', '--dry-run')]),
  shareTool('share-reset-offset', ['--reset-offsets', ...shareGroupArgs('--topic', shareTopic, '--to-offset', '1', '--execute')]),
  shareTool('share-describe-after-reset', ['--describe', ...shareGroupArgs()]),
  shareTool('share-list', ['--list'], { normalise: onlyShareGroup }),
  shareTool('share-list-state', ['--list', '--state'], { normalise: onlyShareGroup }),
  shareTool('share-describe-state', ['--describe', ...shareGroupArgs('--state')]),
  shareTool('share-describe-members', ['--describe', ...shareGroupArgs('--members')]),
  shareTool('share-delete-offsets', ['--delete-offsets', ...shareGroupArgs('--topic', shareTopic)]),
  shareTool('share-describe-after-delete-offsets', ['--describe', ...shareGroupArgs()]),
  shareTool('share-delete', ['--delete', ...shareGroupArgs()]),
  shareTool('share-describe-deleted', ['--describe', ...shareGroupArgs()]),
];

/** What every step's result goes through before comparison: placeholders for what differs run to run. */
export function normalise(result: ToolResult, step: Step): ToolResult {
  const text = (value: string) =>
    value
      .replace(/\r/g, '')
      .split('\n')
      .filter((line) => !/^\s+at [\w$.<>/]+\(.*\)$/.test(line) && !/^\s+\.\.\. \d+ more$/.test(line))
      .map((line) =>
        line
          .replace(/\b[\w.-]+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, '<member-id>')
          .replace(/TopicId: [A-Za-z0-9_-]{22}/g, 'TopicId: <topic-id>')
          .replace(/\b(?:localhost|127\.0\.0\.1):\d+/g, '<host:port>')
          .replace(
            /\b(Leader|Replicas|Isr|Elr|LastKnownElr): ([\d,]+)/g,
            (_, name: string, ids: string) => `${name}: ${ids.replace(/\d+/g, '<broker>')}`,
          )
          .replace(/<host:port>\s+\(\d+\)/g, '<host:port> (<broker>)')
          .replace(/\bConfigs: (\S+)/, (_, configs: string) => `Configs: ${configs.split(',').sort().join(',')}`)
          .replace(/[ \t]+/g, ' ')
          .trim(),
      )
      .join('\n')
      .replace(/\n{2,}/g, '\n')
      .trim();
  const common = { exit: result.exit, stdout: text(result.stdout), stderr: text(result.stderr) };
  return step.normalise ? step.normalise(common) : common;
}
