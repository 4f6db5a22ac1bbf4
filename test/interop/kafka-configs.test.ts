/**
 * Topic configs with Apache Kafka 3.9.1's own tools: `kafka-topics --create --config` with the
 * replication and segment configs operators set, `kafka-configs --describe` (DescribeConfigs with
 * synonyms) and `kafka-configs --alter --add-config/--delete-config` (IncrementalAlterConfigs). The
 * same expectations hold against Apache Kafka (INTEROP_TARGET=kafka), cleanup.policy=compact
 * included.
 *
 * kafka-configs.sh runs kafka.admin.ConfigCommand, which 3.9 keeps in the broker's jar: the broker
 * classpath that test/interop/setup.sh resolves is added to the tools'.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { buildDir } from './support.js';
import { useKafkaTools } from './tool-runner.js';

const bootstrap = inject('interopBootstrap');

const tools = useKafkaTools(bootstrap, {
  extraClasspath: readFileSync(join(buildDir, 'kafka-broker.classpath'), 'utf8').trim(),
});

const topics = (...args: string[]) => tools.stdout('org.apache.kafka.tools.TopicCommand', args);
const configArgs = (topic: string, args: readonly string[]) => ['--entity-type', 'topics', '--entity-name', topic, ...args];
/** kafka-configs; its stdout. */
const configs = (topic: string, ...args: string[]) => tools.stdout('kafka.admin.ConfigCommand', configArgs(topic, args));
/** kafka-configs where it may fail: its stdout and stderr, whatever its exit status. */
const configsFailing = async (topic: string, ...args: string[]) => {
  const { stdout, stderr } = await tools.result('kafka.admin.ConfigCommand', configArgs(topic, args));
  return stdout + stderr;
};

describe('interop > kafka-topics --config and kafka-configs', () => {
  it('creates with segment and replication configs, describes them with synonyms, adds and deletes configs', async () => {
    const topic = `configs-${randomUUID().slice(0, 8)}`;
    await topics(
      '--create',
      '--topic',
      topic,
      '--partitions',
      '1',
      '--replication-factor',
      '1',
      '--config',
      'segment.bytes=1048576',
      '--config',
      'min.insync.replicas=1',
      '--config',
      'retention.ms=86400000',
    );
    const created = await configs(topic, '--describe');
    // Set to its default, it is still the topic's own.
    expect(created).toMatch(
      /min\.insync\.replicas=1 sensitive=false synonyms=\{DYNAMIC_TOPIC_CONFIG:min\.insync\.replicas=1, .*DEFAULT_CONFIG:min\.insync\.replicas=1\}/,
    );
    expect(created).toMatch(
      /segment\.bytes=1048576 sensitive=false synonyms=\{DYNAMIC_TOPIC_CONFIG:segment\.bytes=1048576, .*DEFAULT_CONFIG:log\.segment\.bytes=1073741824\}/,
    );
    expect(created).toMatch(/retention\.ms=86400000 sensitive=false synonyms=\{DYNAMIC_TOPIC_CONFIG:retention\.ms=86400000\}/);

    await configs(topic, '--alter', '--add-config', 'retention.ms=3600000,max.message.bytes=2048', '--delete-config', 'segment.bytes');
    const altered = await configs(topic, '--describe');
    expect(altered).toMatch(/retention\.ms=3600000 sensitive=false synonyms=\{DYNAMIC_TOPIC_CONFIG:retention\.ms=3600000/);
    expect(altered).toMatch(/max\.message\.bytes=2048 /);
    expect(altered).not.toMatch(/segment\.bytes=/);
    expect(altered).toMatch(/min\.insync\.replicas=1 /);

    await configs(topic, '--alter', '--add-config', 'cleanup.policy=[compact,delete],delete.retention.ms=60000,min.compaction.lag.ms=1000');
    const compacted = await configs(topic, '--describe');
    expect(compacted).toMatch(
      /cleanup\.policy=compact,delete sensitive=false synonyms=\{DYNAMIC_TOPIC_CONFIG:cleanup\.policy=compact,delete/,
    );
    expect(compacted).toMatch(/delete\.retention\.ms=60000 /);
    expect(compacted).toMatch(/min\.compaction\.lag\.ms=1000 /);
    const refused = await configsFailing(topic, '--alter', '--add-config', 'cleanup.policy=shred');
    expect(refused).toMatch(/InvalidConfigurationException: .*cleanup\.policy/);
  });
});
