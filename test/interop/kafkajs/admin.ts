/**
 * differential.test.ts's admin steps with kafkajs's admin client, against one server, with a kafkajs
 * producer and consumer group to give the group steps a group:
 *
 *   node --import tsx test/interop/kafkajs/admin.ts BOOTSTRAP TOPIC GROUP
 *
 * Prints one JSON line per step, {"step": ..., "result": ...}, in a fixed order, holding only what
 * does not depend on the server's identity or timing (lists sorted; errors as the Kafka error code's
 * name kafkajs gives them), so that the test can compare a Spool agent with Apache Kafka. A failed
 * step prints its error as its result and the steps after it still run.
 */
import { type Admin, type ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';

/** topicResource (kafkajs's CommonJS build does not expose the enum to ESM imports). */
const topicResource = 2 as ConfigResourceTypes;

const [bootstrap, topic, group] = process.argv.slice(2) as [string, string, string];
/** The 9 keyed records (kafkajs's default partitioner is Java's murmur2), each with its own CreateTime: baseMs + i seconds. */
const records = [
  ['alice', 'a1'],
  ['bob', 'b1'],
  ['carol', 'c1'],
  ['dave', 'd1'],
  ['erin', 'e1'],
  ['frank', 'f1'],
  ['grace', 'g1'],
  ['heidi', 'h1'],
  ['ivan', 'i1'],
] as const;
const baseMs = 1_700_000_000_000;

function emit(step: string, result: unknown): void {
  process.stdout.write(`${JSON.stringify({ step, result })}\n`);
}

/** An error as its Kafka error code's name (a kafkajs protocol error's type), nested errors included; others as their name. */
function code(error: unknown): unknown {
  const e = error as {
    type?: string;
    name?: string;
    cause?: unknown;
    errors?: unknown[];
    groups?: { error?: unknown }[];
    partitions?: { error?: unknown }[];
  };
  if (e.type) return e.type;
  if (e.cause) return code(e.cause);
  if (Array.isArray(e.groups)) return e.groups.map((g) => code(g.error));
  if (Array.isArray(e.partitions)) return e.partitions.map((p) => code(p.error));
  if (Array.isArray(e.errors)) return e.errors.map(code);
  return e.name ?? String(error);
}

const sortRows = (rows: unknown[][]): unknown[][] => rows.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

const kafka = new Kafka({ clientId: 'interop-kafkajs-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2 } });

async function step(name: string, run: () => Promise<unknown>): Promise<void> {
  try {
    emit(name, await run());
  } catch (error) {
    emit(name, { failed: code(error) });
  }
}

async function describeConfigs(admin: Admin, name: string): Promise<unknown> {
  const described = await admin.describeConfigs({ resources: [{ type: topicResource, name }], includeSynonyms: false });
  const resource = described.resources[0]!;
  const dynamic: string[] = [];
  const watched: Record<string, string> = {};
  for (const entry of resource.configEntries) {
    const source = (entry as { configSource?: number }).configSource;
    if (source === 1) dynamic.push(`${entry.configName}=${entry.configValue}`);
    if (['retention.ms', 'cleanup.policy', 'max.message.bytes', 'segment.bytes'].includes(entry.configName))
      watched[entry.configName] = `${entry.configValue} (${source})`;
  }
  return { error: resource.errorCode, dynamic: dynamic.sort(), watched };
}

async function consume(): Promise<unknown[][]> {
  const consumer = kafka.consumer({ groupId: group });
  await consumer.connect();
  const rows: unknown[][] = [];
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${rows.length} of ${records.length} records in 60 s`)), 60_000);
      void consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          rows.push([
            partition,
            Number(message.offset),
            message.key?.toString(),
            message.value?.toString(),
            Number(message.timestamp) - baseMs,
          ]);
          await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
          if (rows.length >= records.length) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect(); // leaves the group
  }
  return sortRows(rows);
}

async function main(): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const create = async () => ({
    created: await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: 2,
          replicationFactor: 1,
          configEntries: [
            { name: 'retention.ms', value: '86400000' },
            { name: 'cleanup.policy', value: 'delete' },
          ],
        },
      ],
    }),
  });
  await step('create', create);
  await step('create-existing', create);
  const setPartitions = (count: number) => async () => {
    await admin.createPartitions({ topicPartitions: [{ topic, count }] });
    return 'ok';
  };
  await step('create-partitions', setPartitions(3));
  await step('create-partitions-fewer', setPartitions(2));
  // kafkajs's alterConfigs is the legacy (whole-set) AlterConfigs: the topic's configs become exactly these.
  const alter = (configEntries: { name: string; value: string }[]) => async () => {
    const altered: { resources: { errorCode: number }[] } = await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: topicResource, name: topic, configEntries }],
    });
    return altered.resources.map((resource) => resource.errorCode);
  };
  await step(
    'alter-configs',
    alter([
      { name: 'retention.ms', value: '3600000' },
      { name: 'max.message.bytes', value: '2000000' },
    ]),
  );
  await step('alter-configs-invalid', alter([{ name: 'retention.ms', value: 'soon' }]));
  await step('describe-configs', () => describeConfigs(admin, topic));
  await step('describe-configs-unknown', () => describeConfigs(admin, `${topic}-unknown`));

  await step('produce', async () => {
    const producer = kafka.producer();
    await producer.connect();
    try {
      const acks: unknown[][] = [];
      for (const [i, [key, value]] of records.entries()) {
        const [ack] = await producer.send({ topic, acks: -1, messages: [{ key, value, timestamp: String(baseMs + i * 1000) }] });
        acks.push([key, ack!.partition, Number(ack!.baseOffset)]);
      }
      return sortRows(acks);
    } finally {
      await producer.disconnect();
    }
  });
  await step('consume', consume);
  await step('list-groups', async () => {
    const listed = (await admin.listGroups()).groups.find((g) => g.groupId === group);
    return { listed: listed !== undefined, protocolType: listed?.protocolType };
  });
  await step('describe-groups', async () => {
    const [g] = (await admin.describeGroups([group])).groups;
    return {
      error: (g as { errorCode?: number }).errorCode,
      state: g!.state,
      protocolType: g!.protocolType,
      protocol: g!.protocol,
      members: g!.members.length,
    };
  });
  const committed = async () => {
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return sortRows(offsets!.partitions.map((p) => [p.partition, Number(p.offset)]));
  };
  await step('committed', committed);
  await step('delete-records', async () => {
    await admin.deleteTopicRecords({
      topic,
      partitions: [
        { partition: 0, offset: '1' },
        { partition: 1, offset: '3' },
      ],
    });
    return 'ok';
  });
  await step('delete-records-beyond-end', async () => {
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 2, offset: '10' }] });
    return 'ok';
  });
  await step('list-offsets', async () =>
    sortRows((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.low), Number(p.high), Number(p.offset)])),
  );
  for (const [name, at] of [
    ['list-offsets-time', baseMs + 4000],
    ['list-offsets-time-future', baseMs + 100_000],
  ] as const)
    await step(name, async () =>
      sortRows((await admin.fetchTopicOffsetsByTimestamp(topic, at)).map((p) => [p.partition, Number(p.offset)])),
    );
  const deleteGroups = async () => (await admin.deleteGroups([group])).map((g) => g.errorCode);
  await step('delete-groups', deleteGroups);
  await step('delete-groups-again', deleteGroups);
  const deleteTopics = async () => {
    await admin.deleteTopics({ topics: [topic], timeout: 15_000 });
    return 'ok';
  };
  await step('delete-topics', deleteTopics);
  await step('delete-topics-again', deleteTopics);
  await admin.disconnect();
}

await main();
