/**
 * DescribeConfigs, AlterConfigs and IncrementalAlterConfigs through the wire, with the generated
 * codecs: what Kafka's admin client and kafka-configs send and read.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KafkaErrors } from '../../lib/kafka/errors.js';
import { AlterOp, ConfigSource, ResourceType } from '../../lib/kafka/handlers/configs.js';
import { AlterConfigs } from '../../lib/kafka/protocol/messages/alter-configs.js';
import { CreateTopics } from '../../lib/kafka/protocol/messages/create-topics.js';
import { DescribeConfigs, type DescribeConfigsResourceResult } from '../../lib/kafka/protocol/messages/describe-configs.js';
import { IncrementalAlterConfigs } from '../../lib/kafka/protocol/messages/incremental-alter-configs.js';
import { topicConfigKeys } from '../../lib/log/index.js';
import { useWireHarness } from './support/wire-harness.js';

// An agent started with its own default for one topic config and its own producer id expiration: Kafka's STATIC_BROKER_CONFIG.
const { stores, log, listener, withClient, withKey } = await useWireHarness({
  log: { topicDefaults: { 'retention.bytes': 1_000_000_000 }, producerIdExpirationMs: 3_600_000 },
});

const newTopic = () => `configs-${randomUUID().slice(0, 8)}`;

const describeTopic = (topic: string, version = 4, keys: string[] | null = null) =>
  withClient((c) =>
    c.callGenerated(DescribeConfigs, version, {
      resources: [{ resourceType: ResourceType.TOPIC, resourceName: topic, configurationKeys: keys }],
      includeSynonyms: true,
      includeDocumentation: true,
    }),
  );

const byName = (configs: readonly DescribeConfigsResourceResult[]) => Object.fromEntries(configs.map((c) => [c.name, c]));

const incremental = (topic: string, configs: { name: string; configOperation: number; value: string | null }[], validateOnly = false) =>
  withClient((c) =>
    c.callGenerated(IncrementalAlterConfigs, 1, {
      resources: [{ resourceType: ResourceType.TOPIC, resourceName: topic, configs }],
      validateOnly,
    }),
  );

describe('kafka > DescribeConfigs', () => {
  it.each([1, 2, 3, 4])(
    'v%i describes every topic config with its source and synonyms, as Kafka does for overrides and broker defaults',
    async (version) => {
      const topic = newTopic();
      await log.createTopic(topic, 1, { 'retention.ms': 60_000, 'min.insync.replicas': 2 });
      const answer = await describeTopic(topic, version);
      const [result] = answer.results;
      expect(result).toMatchObject({ errorCode: 0, resourceType: ResourceType.TOPIC, resourceName: topic });
      const configs = byName(result!.configs);
      expect(Object.keys(configs).sort()).toEqual([...topicConfigKeys].sort());
      expect(configs['retention.ms']).toMatchObject({
        value: '60000',
        readOnly: false,
        configSource: ConfigSource.TOPIC_CONFIG,
        isSensitive: false,
        // Kafka 3.9 lists no default for retention.ms: log.retention.ms has none (the default is log.retention.hours).
        synonyms: [{ name: 'retention.ms', value: '60000', source: ConfigSource.TOPIC_CONFIG }],
      });
      expect(configs['min.insync.replicas']).toMatchObject({ value: '2', configSource: ConfigSource.TOPIC_CONFIG });
      // Inherited from the agent's own default (not Kafka's): the broker setting, then Kafka's default.
      expect(configs['retention.bytes']).toMatchObject({
        value: '1000000000',
        configSource: ConfigSource.STATIC_BROKER_CONFIG,
        synonyms: [
          { name: 'log.retention.bytes', value: '1000000000', source: ConfigSource.STATIC_BROKER_CONFIG },
          { name: 'log.retention.bytes', value: '-1', source: ConfigSource.DEFAULT_CONFIG },
        ],
      });
      expect(configs['segment.bytes']).toMatchObject({
        value: '1073741824',
        configSource: ConfigSource.DEFAULT_CONFIG,
        synonyms: [{ name: 'log.segment.bytes', value: '1073741824', source: ConfigSource.DEFAULT_CONFIG }],
      });
      expect(configs['message.timestamp.before.max.ms']!.value).toBe('9223372036854775807');
      expect(configs['min.cleanable.dirty.ratio']!.value).toBe('0.5');
      expect(configs['cleanup.policy']!.value).toBe('delete');
      expect(configs['leader.replication.throttled.replicas']).toMatchObject({ value: '', synonyms: [] });
      if (version >= 3) {
        expect(configs['retention.ms']).toMatchObject({
          configType: 5,
          documentation: expect.stringContaining('how long records are kept'),
        });
        expect(configs['cleanup.policy']!.configType).toBe(7);
        expect(configs.preallocate!.configType).toBe(1);
        expect(configs['segment.bytes']).toMatchObject({ configType: 3, documentation: expect.stringContaining('does not act on it') });
      }
    },
  );

  it('v0 reports is_default; without include_synonyms no synonyms; configuration_keys filters', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1, { 'retention.ms': 60_000 });
    const v0 = byName((await describeTopic(topic, 0, ['retention.ms', 'segment.ms', 'no.such.config'])).results[0]!.configs);
    expect(Object.keys(v0).sort()).toEqual(['retention.ms', 'segment.ms']);
    expect([v0['retention.ms']!.isDefault, v0['segment.ms']!.isDefault]).toEqual([false, true]);
    const plain = await withClient((c) =>
      c.callGenerated(DescribeConfigs, 4, {
        resources: [{ resourceType: ResourceType.TOPIC, resourceName: topic, configurationKeys: ['retention.ms'] }],
      }),
    );
    expect(plain.results[0]!.configs).toEqual([
      expect.objectContaining({ name: 'retention.ms', value: '60000', synonyms: [], documentation: null }),
    ]);
  });

  it('describes this broker read-only, "" as no dynamic defaults, and refuses another broker id, a missing topic and other resource types', async () => {
    const self = String(listener.cluster.self.nodeId);
    const answer = await withClient((c) =>
      c.callGenerated(DescribeConfigs, 4, {
        resources: [
          { resourceType: ResourceType.BROKER, resourceName: self, configurationKeys: null },
          { resourceType: ResourceType.BROKER, resourceName: '', configurationKeys: null },
          { resourceType: ResourceType.BROKER, resourceName: '999', configurationKeys: null },
          { resourceType: ResourceType.TOPIC, resourceName: newTopic(), configurationKeys: null },
          { resourceType: 8, resourceName: 'kafka.server', configurationKeys: null },
        ],
        includeSynonyms: true,
      }),
    );
    const [broker, defaults, other, missing, logger] = answer.results;
    const configs = byName(broker!.configs);
    expect(broker!.errorCode).toBe(0);
    expect(configs['log.retention.ms']).toMatchObject({ value: '604800000', readOnly: true, configSource: ConfigSource.DEFAULT_CONFIG });
    expect(configs['log.retention.bytes']).toMatchObject({ value: '1000000000', configSource: ConfigSource.STATIC_BROKER_CONFIG });
    expect(configs['message.max.bytes']!.value).toBe('1048588');
    expect(configs['min.insync.replicas']).toMatchObject({ value: '1', readOnly: true, configSource: ConfigSource.DEFAULT_CONFIG });
    expect(configs['producer.id.expiration.ms']).toMatchObject({
      value: '3600000',
      readOnly: true,
      configSource: ConfigSource.STATIC_BROKER_CONFIG,
      configType: 3, // INT, as Kafka's
      synonyms: [
        { name: 'producer.id.expiration.ms', value: '3600000', source: ConfigSource.STATIC_BROKER_CONFIG },
        { name: 'producer.id.expiration.ms', value: '86400000', source: ConfigSource.DEFAULT_CONFIG },
      ],
    });
    expect(defaults).toMatchObject({ errorCode: 0, configs: [] });
    expect(other).toMatchObject({ errorCode: KafkaErrors.INVALID_REQUEST, errorMessage: expect.stringContaining('Unexpected broker id') });
    expect(missing!.errorCode).toBe(KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION);
    expect(logger!.errorCode).toBe(KafkaErrors.INVALID_REQUEST);
  });
});

describe('kafka > AlterConfigs and IncrementalAlterConfigs', () => {
  it.each([0, 1, 2])('AlterConfigs v%i replaces the whole set: configs left out return to their defaults', async (version) => {
    const topic = newTopic();
    await log.createTopic(topic, 1, { 'retention.ms': 60_000, 'max.message.bytes': 2048 });
    const answer = await withClient((c) =>
      c.callGenerated(AlterConfigs, version, {
        resources: [
          {
            resourceType: ResourceType.TOPIC,
            resourceName: topic,
            configs: [
              { name: 'retention.ms', value: '120000' },
              { name: 'segment.bytes', value: '1048576' },
            ],
          },
        ],
        validateOnly: false,
      }),
    );
    expect(answer.responses).toEqual([{ errorCode: 0, errorMessage: null, resourceType: ResourceType.TOPIC, resourceName: topic }]);
    const { config } = await log.requireTopic(topic);
    expect([config['retention.ms'], config['segment.bytes'], config['max.message.bytes'], config['retention.bytes']]).toEqual([
      120_000, 1_048_576, 1_048_588, 1_000_000_000,
    ]);
    const overrides = (await describeTopic(topic)).results[0]!.configs.filter((c) => c.configSource === ConfigSource.TOPIC_CONFIG);
    expect(overrides.map((c) => c.name).sort()).toEqual(['retention.ms', 'segment.bytes']);
  });

  it('IncrementalAlterConfigs SETs, DELETEs (back to the default), APPENDs and SUBTRACTs list configs, and leaves the rest', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1, { 'retention.ms': 60_000, 'max.message.bytes': 2048 });
    const answer = await incremental(topic, [
      { name: 'retention.ms', configOperation: AlterOp.DELETE, value: null },
      { name: 'min.insync.replicas', configOperation: AlterOp.SET, value: '2' },
      { name: 'compression.type', configOperation: AlterOp.SET, value: 'zstd' },
      { name: 'preallocate', configOperation: AlterOp.SET, value: 'TRUE' },
      { name: 'leader.replication.throttled.replicas', configOperation: AlterOp.APPEND, value: '0:1,1:1' },
    ]);
    expect(answer.responses[0]).toMatchObject({ errorCode: 0, errorMessage: null });
    let { config } = await log.requireTopic(topic);
    expect(config).toMatchObject({
      'retention.ms': 604_800_000,
      'max.message.bytes': 2048,
      'min.insync.replicas': 2,
      'compression.type': 'zstd',
      preallocate: true,
      'leader.replication.throttled.replicas': '0:1,1:1',
    });
    expect(
      (await incremental(topic, [{ name: 'leader.replication.throttled.replicas', configOperation: AlterOp.SUBTRACT, value: '0:1' }]))
        .responses[0]!.errorCode,
    ).toBe(0);
    ({ config } = await log.requireTopic(topic));
    expect(config['leader.replication.throttled.replicas']).toBe('1:1');
    const described = byName((await describeTopic(topic)).results[0]!.configs);
    expect(described['retention.ms']!.configSource).toBe(ConfigSource.DEFAULT_CONFIG);
    expect(described['compression.type']).toMatchObject({ value: 'zstd', configSource: ConfigSource.TOPIC_CONFIG });

    // An override equal to the default is still the topic's own, as in Kafka, until it is deleted.
    await incremental(topic, [{ name: 'min.insync.replicas', configOperation: AlterOp.SET, value: '1' }]);
    const same = byName((await describeTopic(topic, 4, ['min.insync.replicas'])).results[0]!.configs)['min.insync.replicas'];
    expect(same).toMatchObject({
      value: '1',
      configSource: ConfigSource.TOPIC_CONFIG,
      synonyms: [
        { name: 'min.insync.replicas', value: '1', source: ConfigSource.TOPIC_CONFIG },
        { name: 'min.insync.replicas', value: '1', source: ConfigSource.DEFAULT_CONFIG },
      ],
    });
    await incremental(topic, [{ name: 'min.insync.replicas', configOperation: AlterOp.DELETE, value: null }]);
    const deleted = byName((await describeTopic(topic, 4, ['min.insync.replicas'])).results[0]!.configs)['min.insync.replicas'];
    expect(deleted).toMatchObject({ value: '1', configSource: ConfigSource.DEFAULT_CONFIG });
  });

  it('validate_only checks and changes nothing; a bad resource fails alone, changing nothing of it', async () => {
    const [topic, other] = [newTopic(), newTopic()];
    await log.createTopic(topic, 1);
    await log.createTopic(other, 1);
    const checked = await incremental(topic, [{ name: 'retention.ms', configOperation: AlterOp.SET, value: '1000' }], true);
    expect(checked.responses[0]!.errorCode).toBe(0);
    const invalid = await incremental(topic, [{ name: 'retention.ms', configOperation: AlterOp.SET, value: '-5' }], true);
    expect(invalid.responses[0]).toMatchObject({
      errorCode: KafkaErrors.INVALID_CONFIG,
      errorMessage: expect.stringContaining('retention.ms'),
    });
    expect((await log.requireTopic(topic)).config['retention.ms']).toBe(604_800_000);

    const answer = await withClient((c) =>
      c.callGenerated(IncrementalAlterConfigs, 0, {
        resources: [
          {
            resourceType: ResourceType.TOPIC,
            resourceName: topic,
            configs: [
              { name: 'retention.ms', configOperation: AlterOp.SET, value: '1000' },
              { name: 'segment.bytes', configOperation: AlterOp.SET, value: 'big' },
            ],
          },
          {
            resourceType: ResourceType.TOPIC,
            resourceName: other,
            configs: [{ name: 'retention.ms', configOperation: AlterOp.SET, value: '1000' }],
          },
        ],
        validateOnly: false,
      }),
    );
    expect(answer.responses.map((r) => r.errorCode)).toEqual([KafkaErrors.INVALID_CONFIG, 0]);
    expect((await log.requireTopic(topic)).config['retention.ms']).toBe(604_800_000);
    expect((await log.requireTopic(other)).config['retention.ms']).toBe(1000);
  });

  it.each([
    [
      [{ name: 'no.such.config', configOperation: AlterOp.SET, value: '1' }],
      KafkaErrors.INVALID_CONFIG,
      'Unknown topic config name: no.such.config',
    ],
    [[{ name: 'cleanup.policy', configOperation: AlterOp.SET, value: 'compact,tidy' }], KafkaErrors.INVALID_CONFIG, 'compact, delete'],
    [[{ name: 'cleanup.policy', configOperation: AlterOp.SET, value: 'shred' }], KafkaErrors.INVALID_CONFIG, 'compact, delete'],
    [[{ name: 'retention.ms', configOperation: AlterOp.APPEND, value: '1' }], KafkaErrors.INVALID_CONFIG, 'append is not allowed'],
    [[{ name: 'compression.type', configOperation: AlterOp.SET, value: 'brotli' }], KafkaErrors.INVALID_CONFIG, 'one of uncompressed'],
    [[{ name: 'compression.gzip.level', configOperation: AlterOp.SET, value: '10' }], KafkaErrors.INVALID_CONFIG, '[1, 9] or -1'],
    [[{ name: 'min.insync.replicas', configOperation: AlterOp.SET, value: '0' }], KafkaErrors.INVALID_CONFIG, 'min.insync.replicas'],
    [[{ name: 'preallocate', configOperation: AlterOp.SET, value: 'yes' }], KafkaErrors.INVALID_CONFIG, 'true or false'],
    [[{ name: 'retention.ms', configOperation: AlterOp.SET, value: null }], KafkaErrors.INVALID_REQUEST, 'Null value'],
    [
      [
        { name: 'min.compaction.lag.ms', configOperation: AlterOp.SET, value: '10' },
        { name: 'max.compaction.lag.ms', configOperation: AlterOp.SET, value: '5' },
      ],
      KafkaErrors.INVALID_CONFIG,
      'conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)',
    ],
    [[{ name: 'retention.ms', configOperation: 9, value: '1' }], KafkaErrors.INVALID_REQUEST, 'unknown config operation'],
    [
      [
        { name: 'retention.ms', configOperation: AlterOp.SET, value: '1' },
        { name: 'retention.ms', configOperation: AlterOp.DELETE, value: null },
      ],
      KafkaErrors.INVALID_REQUEST,
      'duplicate config keys',
    ],
  ])('refuses %j with error %i', async (configs, errorCode, message) => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    const before = (await log.requireTopic(topic)).config;
    const answer = await incremental(topic, configs);
    expect(answer.responses[0]).toMatchObject({ errorCode, errorMessage: expect.stringContaining(message) });
    expect((await log.requireTopic(topic)).config).toEqual(before);
  });

  it('answers a missing topic UNKNOWN_TOPIC_OR_PARTITION and a broker config INVALID_REQUEST (not dynamically updatable here)', async () => {
    const answer = await withClient((c) =>
      c.callGenerated(IncrementalAlterConfigs, 1, {
        resources: [
          {
            resourceType: ResourceType.TOPIC,
            resourceName: newTopic(),
            configs: [{ name: 'retention.ms', configOperation: 0, value: '1' }],
          },
          {
            resourceType: ResourceType.BROKER,
            resourceName: String(listener.cluster.self.nodeId),
            configs: [{ name: 'log.retention.ms', configOperation: 0, value: '1' }],
          },
        ],
        validateOnly: false,
      }),
    );
    expect(answer.responses.map((r) => r.errorCode)).toEqual([KafkaErrors.UNKNOWN_TOPIC_OR_PARTITION, KafkaErrors.INVALID_REQUEST]);
    expect(answer.responses[1]!.errorMessage).toContain('Cannot update these configs dynamically: log.retention.ms');
  });

  it('honours a retention change: records past the new retention.ms expire at the next maintenance pass', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    const old = Date.now() - 60_000;
    for (let i = 0; i < 3; i++) await log.produce(topic, [{ key: null, value: Buffer.from(`old-${i}`), timestampMs: old }]);
    await log.produce(topic, [{ key: null, value: Buffer.from('new') }]);
    await log.runMaintenance();
    expect((await log.describeTopic(topic)).partitions[0]!.logStartOffset).toBe(0);
    expect(
      (await incremental(topic, [{ name: 'retention.ms', configOperation: AlterOp.SET, value: '30000' }])).responses[0]!.errorCode,
    ).toBe(0);
    await log.runMaintenance();
    expect((await log.describeTopic(topic)).partitions[0]).toMatchObject({ logStartOffset: 3, nextOffset: 4 });
  });

  it('loses no change when two alters race: the later write is refused (CONFLICT, retriable) and nothing is overwritten', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    let raced = false;
    stores.metadata.beforeWrite = async (op) => {
      if (raced || op.kind !== 'update' || op.set.config === undefined) return;
      raced = true; // another alter lands between this one's read and its write
      await log.alterTopic(topic, { config: { 'segment.ms': 1000 } });
    };
    try {
      await expect(log.alterTopic(topic, { config: { 'retention.ms': 1000 } })).rejects.toMatchObject({ code: 'CONFLICT' });
    } finally {
      stores.metadata.beforeWrite = undefined;
    }
    expect((await log.requireTopic(topic)).config).toMatchObject({ 'segment.ms': 1000, 'retention.ms': 604_800_000 });
    await log.alterTopic(topic, { config: { 'retention.ms': 1000 } });
    expect((await log.requireTopic(topic)).config).toMatchObject({ 'segment.ms': 1000, 'retention.ms': 1000 });
  });

  it('CreateTopics takes the replication and segment configs Kafka tools set, and refuses unknown ones', async () => {
    const [topic, bad] = [newTopic(), newTopic()];
    const answer = await withClient((c) =>
      c.callGenerated(CreateTopics, 4, {
        topics: [
          {
            name: topic,
            numPartitions: 1,
            replicationFactor: 3,
            assignments: [],
            configs: [
              { name: 'segment.bytes', value: '1048576' },
              { name: 'min.insync.replicas', value: '2' },
              { name: 'compression.type', value: 'lz4' },
              { name: 'cleanup.policy', value: 'delete' },
            ],
          },
          { name: bad, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: 'segment.size', value: '1' }] },
        ],
        timeoutMs: 1000,
      }),
    );
    expect(answer.topics.map((t) => t.errorCode)).toEqual([0, KafkaErrors.INVALID_CONFIG]);
    expect((await log.requireTopic(topic)).config).toMatchObject({
      'segment.bytes': 1_048_576,
      'min.insync.replicas': 2,
      'compression.type': 'lz4',
    });
  });

  it('needs admin on the topic: TOPIC_AUTHORIZATION_FAILED for a key that may only read, and nothing changes', async () => {
    const topic = newTopic();
    await log.createTopic(topic, 1);
    await withKey('reader', [{ topics: 'configs-*', actions: ['read'] }], async (c) => {
      const altered = await c.callGenerated(AlterConfigs, 1, {
        resources: [{ resourceType: ResourceType.TOPIC, resourceName: topic, configs: [{ name: 'retention.ms', value: '1000' }] }],
        validateOnly: false,
      });
      expect(altered.responses[0]!.errorCode).toBe(KafkaErrors.TOPIC_AUTHORIZATION_FAILED);
      const described = await c.callGenerated(DescribeConfigs, 2, {
        resources: [{ resourceType: ResourceType.TOPIC, resourceName: topic, configurationKeys: ['retention.ms'] }],
      });
      expect(described.results[0]).toMatchObject({ errorCode: 0, configs: [{ name: 'retention.ms', value: '604800000' }] });
      expect((await log.requireTopic(topic)).config['retention.ms']).toBe(604_800_000);
    });
  });
});
