/**
 * The interop scenario's steps with kafkajs, run as its own process like the other clients:
 *
 *   node --import tsx test/interop/kafkajs/client.ts create-topic --bootstrap HOST:PORT --topic T --partitions N
 *   node --import tsx test/interop/kafkajs/client.ts produce --bootstrap HOST:PORT --topic T   < lines "key:value"
 *   node --import tsx test/interop/kafkajs/client.ts member --bootstrap HOST:PORT --topic T --group G --member NAME [--timeout-ms MS]
 *
 * Results are JSON lines on stdout (schema in ../clients.ts); kafkajs's log (WARN and up, or
 * everything with KAFKAJS_LOG_LEVEL=debug) goes to stderr. The producer uses kafkajs's default
 * partitioner, which since 2.0 is Java's murmur2 one; the member uses auto-commit, which commits
 * resolved offsets after every batch, when a heartbeat reports a rebalance, and on disconnect.
 */
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { CompressionTypes, Kafka, logLevel, Partitioners, type Message, type PartitionMetadata } from 'kafkajs';

const clientId = 'interop-kafkajs';
/** Records per `send()`: each call is one produce request with a gzip batch per partition. */
const recordsPerSend = 250;

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function connect(bootstrap: string): Kafka {
  const level = process.env.KAFKAJS_LOG_LEVEL === 'debug' ? logLevel.DEBUG : logLevel.WARN;
  return new Kafka({
    clientId,
    brokers: bootstrap.split(','),
    logLevel: level,
    logCreator:
      () =>
      ({ namespace, level, log }) => {
        const { message, ...extra } = log;
        process.stderr.write(`[kafkajs ${logLevel[level]}] ${namespace}: ${message} ${JSON.stringify(extra)}\n`);
      },
  });
}

async function createTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    if (!created) throw new Error(`topic ${topic} already exists`);
  } finally {
    await admin.disconnect();
  }
  emit({ event: 'topic', topic, partitions });
}

/**
 * kafkajs answers a send with one base offset per partition, not per record. A record's offset is
 * the base offset of its partition plus its position among that call's records for the partition;
 * which partition that is, the producer's own partitioner (the same function) says.
 */
async function produce(kafka: Kafka, topic: string, input: string): Promise<void> {
  const createPartitioner = Partitioners.DefaultPartitioner;
  const producer = kafka.producer({ createPartitioner });
  const partitioner = createPartitioner();
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  let partitionMetadata: PartitionMetadata[];
  try {
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    partitionMetadata = metadata!.partitions as PartitionMetadata[];
  } finally {
    await admin.disconnect();
  }

  const send = async (messages: Message[]) => {
    const acks = await producer.send({ topic, compression: CompressionTypes.GZIP, messages });
    const baseOffsets = new Map(acks.map((ack) => [ack.partition, BigInt(ack.baseOffset!)]));
    const positions = new Map<number, bigint>();
    for (const message of messages) {
      const partition = partitioner({ topic, partitionMetadata, message });
      const position = positions.get(partition) ?? 0n;
      positions.set(partition, position + 1n);
      const base = baseOffsets.get(partition);
      if (base === undefined) throw new Error(`no acknowledgement for partition ${partition} of ${topic}`);
      emit({ event: 'ack', key: String(message.key), value: String(message.value), partition, offset: Number(base + position) });
    }
  };

  let pending: Message[] = [];
  const lines = input.split('\n').filter((line) => line !== '');
  for (const [index, line] of lines.entries()) {
    const lineNumber = index + 1;
    const colon = line.indexOf(':');
    if (colon < 0) throw new Error(`input line ${lineNumber} has no ':' between key and value`);
    pending.push({ key: line.slice(0, colon), value: line.slice(colon + 1) });
    if (pending.length === recordsPerSend) {
      await send(pending);
      pending = [];
    }
  }
  if (pending.length > 0) await send(pending);
  await producer.disconnect();
}

async function runMember(kafka: Kafka, topic: string, group: string, member: string, timeoutMs: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: group });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const partitions = [...(payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
    emit({ event: 'assigned', member, partitions });
  });
  let crashed: Error | undefined;
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    crashed = payload.error;
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      emit({
        event: 'record',
        member,
        partition,
        offset: Number(message.offset),
        key: message.key?.toString() ?? null,
        value: message.value?.toString() ?? null,
      });
    },
  });

  const stdinClosed = new Promise<'stopped'>((resolve) => {
    process.stdin
      .on('end', () => resolve('stopped'))
      .on('close', () => resolve('stopped'))
      .resume();
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const outcome = await Promise.race([stdinClosed, timedOut]);
  clearTimeout(timer);
  await consumer.disconnect();
  if (crashed) {
    process.stderr.write(`kafkajs-interop: member ${member} crashed: ${crashed.stack ?? crashed.message}\n`);
    return 1;
  }
  if (outcome === 'timeout') {
    process.stderr.write(`kafkajs-interop: member ${member} timed out after ${timeoutMs} ms\n`);
    return 3;
  }
  emit({ event: 'closed', member });
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      bootstrap: { type: 'string' },
      topic: { type: 'string' },
      partitions: { type: 'string', default: '4' },
      group: { type: 'string' },
      member: { type: 'string' },
      'timeout-ms': { type: 'string', default: '120000' },
    },
  });
  if (!values.bootstrap || !values.topic) throw new Error('--bootstrap and --topic are required');
  const kafka = connect(values.bootstrap);
  switch (command) {
    case 'create-topic':
      await createTopic(kafka, values.topic, Number(values.partitions));
      return 0;
    case 'produce':
      await produce(kafka, values.topic, await text(process.stdin));
      return 0;
    case 'member':
      if (!values.group || !values.member) throw new Error('member needs --group and --member');
      return runMember(kafka, values.topic, values.group, values.member, Number(values['timeout-ms']));
    default:
      throw new Error(`unknown command ${JSON.stringify(command)}: expected create-topic, produce or member`);
  }
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    process.stderr.write(`kafkajs-interop: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
