/**
 * The `spool` command, as Kafka's tools: topics (kafka-topics.sh), produce and consume (the console
 * producer and consumer), groups (kafka-consumer-groups.sh), queues (share groups: receive and
 * acknowledge, kafka-share-groups.sh; redrive of dead letters), and serve (the agent). Talks to an agent
 * or Lambda over the HTTP API (`--url`, `SPOOL_URL`). Exit codes: 0 done, 1 the operation failed
 * (the server's error code and message are printed), 2 bad usage (with help).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type QueueAckResult, type QueueOutcome, SpoolClient } from '../client.js';
import { configVariables } from '../config.js';
import { SpoolError } from '../errors.js';
import { isTopicConfigKey, topicConfigRules, type TopicConfigValue } from '../log/index.js';
import { consume } from './consume.js';
import { output, type Output } from './output.js';
import { produce } from './produce.js';
import { serveFromEnvironment } from './serve.js';

export class UsageError extends Error {}

/** The version in Spool's package.json: the nearest one above this module, from lib/cli or dist/lib/cli alike. */
function packageVersion(): string {
  for (let dir = new URL('.', import.meta.url); ; dir = new URL('..', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'spool' && pkg.version) return pkg.version;
    } catch {
      // no package.json here: look further up
    }
    if (dir.pathname === '/') return 'unknown';
  }
}

const examples = (lines: string[]) => `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;

function integer(name: string, min = 0) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value) || Number(value) < min)
      throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}

/**
 * `--config retention.ms=60000`: Kafka's names, sent as the API's snake_case; numbers and booleans
 * typed by the topic config's rule, other values as text (the server checks both).
 */
function configPairs(value: string, previous: Record<string, TopicConfigValue> = {}): Record<string, TopicConfigValue> {
  const match = /^([a-z0-9.]+)=(\S*)$/.exec(value);
  if (!match)
    throw new InvalidArgumentError(
      `--config takes key=value (e.g. retention.ms=86400000 or message.timestamp.type=LogAppendTime), got ${JSON.stringify(value)}`,
    );
  const [key, text] = [match[1]!, match[2]!];
  const kind = isTopicConfigKey(key) ? topicConfigRules[key].kind : 'integer';
  const typed =
    (kind === 'integer' || kind === 'double') && /^-?\d+(\.\d+)?$/.test(text)
      ? Number(text)
      : kind === 'boolean' && /^(true|false)$/i.test(text)
        ? text.toLowerCase() === 'true'
        : text;
  return { ...previous, [key.replaceAll('.', '_')]: typed };
}

export function buildProgram(out: Output = output()): Command {
  const program = new Command('spool')
    .description('Spool: a serverless, Kafka-compatible queue. Commands talk to a Spool HTTP API.')
    .version(packageVersion(), '-V, --version', 'print the version of spool')
    .addOption(new Option('--url <url>', 'Spool HTTP API').env('SPOOL_URL').default('http://127.0.0.1:8080'))
    .addOption(new Option('--token <token>', 'bearer token for the API').env('SPOOL_TOKEN'))
    .showHelpAfterError()
    .exitOverride();
  const client = () => {
    const options = program.opts<{ url: string; token?: string }>();
    if (!URL.canParse(options.url) || !/^https?:$/.test(new URL(options.url).protocol)) {
      throw new UsageError(`--url must be an http(s) URL, got ${JSON.stringify(options.url)}`);
    }
    return new SpoolClient(options.url, options.token);
  };

  // ---- serve --------------------------------------------------------------------------------------
  const serve = program
    .command('serve')
    .description('run the agent (as npm start): the HTTP API on the embedded store, or on S3/DynamoDB')
    .addHelpText(
      'after',
      examples([
        'spool serve',
        'spool serve --http-port 9000 --data-dir /var/lib/spool',
        'spool serve --object-store s3://bucket/spool --metadata-store dynamodb://spool',
      ]),
    );
  for (const [name, help] of configVariables)
    serve.addOption(new Option(`--${name.slice('SPOOL_'.length).toLowerCase().replaceAll('_', '-')} <value>`, `${help} [${name}]`));
  serve.action(async (options: Record<string, string>) => {
    for (const [name] of configVariables) {
      const key = name
        .slice('SPOOL_'.length)
        .toLowerCase()
        .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      if (options[key] !== undefined) process.env[name] = options[key];
    }
    await serveFromEnvironment();
  });

  // ---- topics -------------------------------------------------------------------------------------
  const topics = program.command('topics').description('create, list, describe, alter and delete topics');
  topics
    .command('create <name>')
    .description('create a topic')
    .option('--partitions <n>', 'partition count', integer('--partitions', 1))
    .option('--config <key=value>', 'topic config, as Kafka names it (README, "Topic configuration"); repeatable', configPairs)
    .addHelpText(
      'after',
      examples(['spool topics create orders --partitions 6', 'spool topics create audit --config retention.ms=604800000']),
    )
    .action(async (name: string, options: { partitions?: number; config?: Record<string, TopicConfigValue> }) => {
      const topic = await client().createTopic(name, options.partitions, options.config);
      out.info(`created topic ${topic.name} with ${topic.partitions} partition(s)`);
    });
  topics
    .command('list')
    .description('list topics')
    .action(async () => {
      const { topics: list } = await client().listTopics();
      out.table(
        ['TOPIC', 'PARTITIONS'],
        list.map((t) => [t.name, t.partitions]),
      );
    });
  topics
    .command('describe <name>')
    .description('partitions (earliest offset, high watermark) and config of a topic')
    .action(async (name: string) => {
      const topic = await client().describeTopic(name);
      out.table(
        ['PARTITION', 'EARLIEST', 'HIGH-WATERMARK'],
        topic.partitions.map((p) => [p.partition, p.earliest_offset, p.high_watermark]),
      );
      out.table(
        ['CONFIG', 'VALUE'],
        Object.entries(topic.config).map(([key, value]) => [key.replaceAll('_', '.'), value]),
      );
    });
  topics
    .command('alter <name>')
    .description('add partitions or change config')
    .option('--partitions <n>', 'new partition count (only grows)', integer('--partitions', 1))
    .option('--config <key=value>', 'topic config; repeatable', configPairs)
    .addHelpText(
      'after',
      examples(['spool topics alter orders --partitions 12', 'spool topics alter orders --config retention.ms=3600000']),
    )
    .action(async (name: string, options: { partitions?: number; config?: Record<string, TopicConfigValue> }) => {
      if (options.partitions === undefined && options.config === undefined) throw new UsageError('alter needs --partitions or --config');
      const topic = await client().alterTopic(name, { partitions: options.partitions, config: options.config });
      out.info(`altered topic ${topic.name}: ${topic.partitions} partition(s)`);
    });
  topics
    .command('delete <name>')
    .description('delete a topic and its records')
    .action(async (name: string) => {
      await client().deleteTopic(name);
      out.info(`deleted topic ${name}`);
    });

  // ---- produce / consume --------------------------------------------------------------------------
  program
    .command('produce <topic>')
    .description('send lines from stdin or a file as records (as kafka-console-producer)')
    .option('--file <path>', 'read this file instead of stdin')
    .option('--key-separator <sep>', 'split each line into key and value at the first separator')
    .option('--partition <p>', 'write every record to this partition', integer('--partition'))
    .addOption(new Option('--acks <acks>', 'when the server answers').choices(['0', '1', 'all']).default('all'))
    .addOption(
      new Option('--format <format>', 'text: a value per line; ndjson: a JSON record per line; json: a JSON array of records')
        .choices(['text', 'json', 'ndjson'])
        .default('text'),
    )
    .option('--batch-records <n>', 'records per request', integer('--batch-records', 1), 1000)
    .option('--verbose', 'print each record’s partition and offset')
    .addHelpText(
      'after',
      examples([
        'seq 1 1000 | spool produce numbers',
        'spool produce orders --file orders.txt --key-separator :',
        'spool produce events --format ndjson < events.ndjson',
      ]),
    )
    .action(async (topic: string, options) => produce(client(), out, topic, options));

  program
    .command('consume <topic>')
    .description('print records (as kafka-console-consumer)')
    .option('--from-beginning', 'start at the earliest offset (default: the latest)')
    .option('--partition <p>', 'only this partition', integer('--partition'))
    .option('--offset <o>', 'start at this offset (with --partition)', integer('--offset'))
    .option('--group <group>', 'consume as a member of this group, committing as it goes')
    .option('--max-messages <n>', 'stop after this many records', integer('--max-messages', 1))
    .option('--timeout-ms <ms>', 'stop when no record came for this long', integer('--timeout-ms', 1))
    .option('--follow', 'keep waiting for new records at the end of the log')
    .addOption(new Option('--format <format>', 'text: the value; json: one object per line').choices(['text', 'json']).default('text'))
    .option('--print-key', 'text format: print key<TAB>value')
    .addHelpText(
      'after',
      examples([
        'spool consume orders --from-beginning',
        'spool consume orders --group billing --follow',
        'spool consume orders --partition 0 --offset 42 --max-messages 10 --format json',
      ]),
    )
    .action(async (topic: string, options) => {
      if (options.offset !== undefined && options.partition === undefined) throw new UsageError('--offset needs --partition');
      if (options.group !== undefined && (options.partition !== undefined || options.offset !== undefined))
        throw new UsageError('--group cannot be combined with --partition or --offset');
      await consume(client(), out, topic, options);
    });

  // ---- groups -------------------------------------------------------------------------------------
  const groups = program.command('groups').description('list, describe, reset and delete consumer groups');
  groups
    .command('list')
    .description('list groups')
    .action(async () => {
      const { groups: list } = await client().listGroups();
      out.table(
        ['GROUP', 'STATE', 'GENERATION', 'MEMBERS'],
        list.map((g) => [g.group, g.state, g.generation, g.members]),
      );
    });
  groups
    .command('describe <group>')
    .description('per partition: committed offset, high watermark, lag and member')
    .action(async (group: string) => {
      const d = await client().describeGroup(group);
      out.info(
        `group ${d.group} (${d.kind === 'kafka' ? 'Kafka consumers' : 'HTTP'}${d.assignor ? `, ${d.assignor}` : ''}): ${d.state}, generation ${d.generation}, ${d.members.length} member(s)`,
      );
      out.table(
        ['TOPIC', 'PARTITION', 'COMMITTED', 'HIGH-WATERMARK', 'LAG', 'MEMBER'],
        d.partitions.map((p) => [p.topic, p.partition, p.committed_offset, p.high_watermark, p.lag, p.member_id]),
      );
    });
  groups
    .command('reset-offsets <group>')
    .description('set committed offsets (dry run unless --execute); the group must have no live members')
    .requiredOption('--topic <topic>', 'the topic whose offsets to reset')
    .option('--to-earliest', 'the earliest offset')
    .option('--to-latest', 'the high watermark')
    .option('--to-datetime <iso>', 'the first offset at or after this time (e.g. 2026-11-21T08:00:00Z)')
    .option('--to-offset <n>', 'this offset', integer('--to-offset'))
    .option('--execute', 'apply the change (without it, only show it)')
    .addHelpText(
      'after',
      examples([
        'spool groups reset-offsets billing --topic orders --to-earliest',
        'spool groups reset-offsets billing --topic orders --to-datetime 2026-11-21T00:00:00Z --execute',
      ]),
    )
    .action(
      async (
        group: string,
        options: { topic: string; toEarliest?: boolean; toLatest?: boolean; toDatetime?: string; toOffset?: number; execute?: boolean },
      ) => {
        const chosen = [options.toEarliest, options.toLatest, options.toDatetime, options.toOffset].filter((v) => v !== undefined);
        if (chosen.length !== 1)
          throw new UsageError('reset-offsets needs exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset');
        let timestamp: number | undefined;
        if (options.toDatetime !== undefined) {
          timestamp = Date.parse(options.toDatetime);
          if (Number.isNaN(timestamp))
            throw new UsageError(`--to-datetime must be an ISO 8601 time, got ${JSON.stringify(options.toDatetime)}`);
        }
        const to: 'earliest' | 'latest' | { timestamp: number } | { offset: number } = options.toEarliest
          ? 'earliest'
          : options.toLatest
            ? 'latest'
            : timestamp !== undefined
              ? { timestamp }
              : { offset: options.toOffset! };
        const api = client();
        const current = new Map(
          (await api.groupOffsets(group).catch(() => ({ offsets: [] }))).offsets.map((o) => [`${o.topic}/${o.partition}`, o.offset]),
        );
        // The server's dry run answers what the reset would set, computed as the reset itself (and refused alike).
        const { offsets } = await api.resetOffsets(group, to, [options.topic], !options.execute);
        out.table(
          ['TOPIC', 'PARTITION', options.execute ? 'PREVIOUS' : 'CURRENT', 'NEW'],
          offsets.map((o) => [o.topic, o.partition, current.get(`${o.topic}/${o.partition}`) ?? null, o.offset]),
        );
        if (!options.execute) out.info('dry run: nothing changed; add --execute to apply');
      },
    );
  groups
    .command('delete <group>')
    .description('delete a group and its offsets (it must have no live members)')
    .action(async (group: string) => {
      await client().deleteGroup(group);
      out.info(`deleted group ${group}`);
    });

  // ---- queues (share groups) --------------------------------------------------------------------
  const queues = program
    .command('queues')
    .description('receive and acknowledge records of share groups; describe, configure and delete them');
  const outcomes = ['accept', 'release', 'reject'];
  const outcome = (value: string): QueueOutcome => {
    if (!outcomes.includes(value)) throw new InvalidArgumentError(`expected one of ${outcomes.join(', ')}, got ${JSON.stringify(value)}`);
    return value as QueueOutcome;
  };
  const printResults = (receipts: readonly string[], results: readonly QueueAckResult[]) => {
    out.table(
      ['RECEIPT', 'STATUS', 'REASON'],
      results.map((r, i) => [receipts[i]!, r.status, r.reason ?? null]),
    );
    const unsettled = results.filter((r) => r.status !== 'ok' && r.status !== 'already_settled').length;
    if (unsettled > 0) throw new Error(`${unsettled} of ${results.length} record(s) not settled (see STATUS)`);
  };
  queues
    .command('receive <group>')
    .description('receive records, each locked to this receive until acknowledged or its visibility ends')
    .requiredOption('--topic <topic>', 'the topic to receive from')
    .option('--max-records <n>', 'at most this many records (default 10)', integer('--max-records', 1))
    .option(
      '--visibility-ms <ms>',
      "how long they stay locked (default: the group's share.record.lock.duration.ms)",
      integer('--visibility-ms', 1),
    )
    .option('--wait-ms <ms>', 'wait up to this long for a record', integer('--wait-ms'))
    .option('--ack <outcome>', 'acknowledge them once printed: accept, release or reject', outcome)
    .addHelpText(
      'after',
      examples([
        'spool queues receive billing --topic orders --max-records 5',
        'spool queues receive billing --topic orders --wait-ms 20000 --ack accept',
      ]),
    )
    .action(
      async (
        group: string,
        options: { topic: string; maxRecords?: number; visibilityMs?: number; waitMs?: number; ack?: QueueOutcome },
      ) => {
        const api = client();
        const { records } = await api.receive(group, options.topic, {
          max_records: options.maxRecords,
          visibility_ms: options.visibilityMs,
          wait_ms: options.waitMs,
        });
        out.table(
          ['PARTITION', 'OFFSET', 'DELIVERY', 'KEY', 'VALUE', 'RECEIPT'],
          records.map((r) => [r.partition, r.offset, r.delivery_count, r.key, r.value, r.receipt]),
        );
        if (options.ack === undefined || records.length === 0) return;
        const { results } = await api.acknowledge(
          group,
          options.topic,
          records.map((r) => ({ receipt: r.receipt, outcome: options.ack })),
        );
        const settled = results.filter((r) => r.status === 'ok').length;
        out.info(
          `${options.ack === 'accept' ? 'accepted' : options.ack === 'release' ? 'released' : 'rejected'} ${settled} of ${records.length} record(s)`,
        );
        if (settled < records.length)
          printResults(
            records.map((r) => r.receipt),
            results,
          );
      },
    );
  queues
    .command('ack <group> <receipts...>')
    .description('acknowledge received records by their receipts')
    .requiredOption('--topic <topic>', 'the topic they were received from')
    .option('--outcome <outcome>', 'accept (done), release (deliver again) or reject (dead)', outcome, 'accept')
    .option('--extend-ms <ms>', 'instead: keep them locked this long from now', integer('--extend-ms', 1))
    .action(async (group: string, receipts: string[], options: { topic: string; outcome: QueueOutcome; extendMs?: number }) => {
      const api = client();
      const { results } =
        options.extendMs === undefined
          ? await api.acknowledge(
              group,
              options.topic,
              receipts.map((receipt) => ({ receipt, outcome: options.outcome })),
            )
          : await api.extend(group, options.topic, receipts, options.extendMs);
      printResults(receipts, results);
    });
  queues
    .command('describe <group>')
    .description('per partition: start and end offsets, records locked, available, dead and delayed; and the settings')
    .option('--topic <topic>', 'only this topic')
    .action(async (group: string, options: { topic?: string }) => {
      const d = await client().describeQueue(group, options.topic);
      out.info(
        `share group ${d.group}: ${Object.entries(d.config)
          .map(([key, value]) => `${key.replaceAll('_', '.')}=${value}`)
          .join(', ')}`,
      );
      out.table(
        ['TOPIC', 'PARTITION', 'START-OFFSET', 'END-OFFSET', 'LOG-END-OFFSET', 'ACQUIRED', 'AVAILABLE', 'DEAD', 'DELAYED'],
        d.partitions.map((p) => [
          p.topic,
          p.partition,
          p.start_offset,
          p.end_offset,
          p.log_end_offset,
          p.acquired,
          p.available,
          p.dead,
          p.delayed,
        ]),
      );
    });
  queues
    .command('alter <group>')
    .description("change a share group's settings (Kafka's share.* group configs)")
    .requiredOption('--config <key=value>', 'e.g. share.auto.offset.reset=earliest, share.delivery.count.limit=3; repeatable', configPairs)
    .action(async (group: string, options: { config: Record<string, TopicConfigValue> }) => {
      const { config } = await client().alterQueue(group, options.config);
      out.table(
        ['CONFIG', 'VALUE'],
        Object.entries(config).map(([key, value]) => [key.replaceAll('_', '.'), value]),
      );
    });
  queues
    .command('redrive <group>')
    .description("move the group's dead letters back to the topics and partitions they came from, from where the last redrive stopped")
    .option('--max-records <n>', 'look at up to this many records of the dead-letter topic (default 1000)', integer('--max-records', 1))
    .option('--dead-letter-topic <topic>', "read this topic (default: the group's errors.deadletterqueue.topic.name)")
    .addHelpText(
      'after',
      examples([
        'spool queues redrive billing',
        'spool queues redrive billing --dead-letter-topic billing-dlq --max-records 10000',
        'spool groups describe spool-redrive.billing    # the position, and what is left',
      ]),
    )
    .action(async (group: string, options: { maxRecords?: number; deadLetterTopic?: string }) => {
      const r = await client().redrive(group, { max_records: options.maxRecords, dead_letter_topic: options.deadLetterTopic });
      const passed = r.passed_over;
      out.info(
        `moved ${r.moved} dead letter(s) of ${r.group} from ${r.dead_letter_topic} back to their topics; passed over ${passed.other_group} of other groups, ${passed.no_value} without key or value, ${passed.missing_topic} whose topic or partition is gone, ${passed.malformed} malformed`,
      );
      out.table(
        ['PARTITION', 'POSITION', 'END-OFFSET', 'REMAINING'],
        r.positions.map((p) => [p.partition, p.offset, p.end_offset, Math.max(0, p.end_offset - p.offset)]),
      );
      if (r.positions.some((p) => p.offset < p.end_offset))
        out.info(`more remain: run it again (the position is consumer group ${r.redrive_group})`);
    });
  queues
    .command('delete <group>')
    .description("delete a share group's state and settings (no record may be locked)")
    .action(async (group: string) => {
      await client().deleteQueue(group);
      out.info(`deleted share group ${group}`);
    });

  for (const command of [program, ...program.commands, ...topics.commands, ...groups.commands, ...queues.commands])
    command.showHelpAfterError().exitOverride();
  return program;
}

/** Runs the command line; answers the exit code. */
export async function run(argv: readonly string[], out: Output = output()): Promise<number> {
  const program = buildProgram(out);
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      return 2; // commander has printed the problem and the help (also for a missing subcommand)
    }
    if (error instanceof UsageError) {
      process.stderr.write(`spool: ${error.message}\n(see spool --help)\n`);
      return 2;
    }
    if (error instanceof SpoolError) {
      process.stderr.write(`spool: ${error.code}: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`spool: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}
