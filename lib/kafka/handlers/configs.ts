/**
 * DescribeConfigs, AlterConfigs and IncrementalAlterConfigs over the engine's topic configs
 * (lib/log/topic-config.ts, the one table of what each config accepts and means).
 *
 * A topic stores every config's value and which of them it sets itself (its overrides: the engine's
 * `configOverrides`). An override is TOPIC_CONFIG; any other config is described as Kafka describes
 * one with no override: DEFAULT_CONFIG, or STATIC_BROKER_CONFIG when the agent was started with a
 * default other than Kafka's. Deleting an override sets the agent's default.
 *
 * AlterConfigs replaces a topic's whole set (configs it leaves out return to their defaults);
 * IncrementalAlterConfigs changes only those it names: SET, DELETE, and APPEND/SUBTRACT on LIST
 * configs. Both check everything before changing anything, per resource; validate_only checks and
 * changes nothing. Broker configs are the agent's start-up settings: described, never altered
 * (INVALID_REQUEST, as Kafka answers for a config it cannot update dynamically). Group configs
 * (resource type 32) are a share group's settings (lib/queues/config.ts, the `share.*` keys):
 * described with describe on the group, altered by IncrementalAlterConfigs (SET, DELETE) with the
 * service's admin permission, as PATCH /v1/queues/{group} is; Spool keeps no other group config.
 */
import { SpoolError } from '../../errors.js';
import {
  checkTopicConfigKey,
  listItems,
  overridesOf,
  parseTopicConfigValue,
  renderTopicConfigValue,
  topicConfigKeys,
  topicConfigRules,
  validateTopicConfig,
  validateTopicConfigSet,
  defaultProducerIdExpirationMs,
  type ConfigRule,
  type LogSettings,
  type TopicConfig,
  type TopicConfigKey,
  type TopicConfigValue,
} from '../../log/index.js';
import type { ApiHandler, RequestContext } from '../api.js';
import { KafkaErrors, kafkaErrorFor } from '../errors.js';
import type { AlterConfigsRequest, AlterConfigsResponse } from '../protocol/messages/alter-configs.js';
import type {
  DescribeConfigsRequest,
  DescribeConfigsResourceResult,
  DescribeConfigsResponse,
  DescribeConfigsSynonym,
} from '../protocol/messages/describe-configs.js';
import type { IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse } from '../protocol/messages/incremental-alter-configs.js';
import type { Encodable } from '../protocol/runtime.js';
import { codecs } from '../served.js';
import { alteredShareConfig, defaultShareConfig, shareConfigKeys, shareConfigRules, type ShareConfigKey } from '../../queues/config.js';
import { permits, permitsGroup, type BrokerDeps } from './deps.js';

/** Kafka's ConfigResource.Type. */
export const ResourceType = { TOPIC: 2, BROKER: 4, GROUP: 32 } as const;
/** Kafka's DescribeConfigsResponse.ConfigSource. */
export const ConfigSource = { TOPIC_CONFIG: 1, STATIC_BROKER_CONFIG: 4, DEFAULT_CONFIG: 5, DYNAMIC_GROUP_CONFIG: 8 } as const;
/** Kafka's DescribeConfigsResponse.ConfigType. */
const ConfigType = { BOOLEAN: 1, STRING: 2, INT: 3, LONG: 5, DOUBLE: 6, LIST: 7 } as const;
/** Kafka's AlterConfigOp.OpType. */
export const AlterOp = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

type ConfigEntry = Encodable<DescribeConfigsResourceResult>;

interface ResourceAnswer {
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly resourceType: number;
  readonly resourceName: string;
}

function configType(rule: ConfigRule): number {
  switch (rule.kind) {
    case 'integer':
      return rule.long ? ConfigType.LONG : ConfigType.INT;
    case 'double':
      return ConfigType.DOUBLE;
    case 'boolean':
      return ConfigType.BOOLEAN;
    case 'list':
      return ConfigType.LIST;
    case 'enum':
    case 'string':
      return ConfigType.STRING;
  }
}

function documentation(rule: ConfigRule): string {
  return rule.honoured ? rule.meaning : `${rule.meaning} (accepted and reported; Spool does not act on it)`;
}

/** Where a topic's value comes from, and the synonyms Kafka lists for it, most specific first. */
function topicEntry(
  key: TopicConfigKey,
  value: TopicConfigValue,
  overridden: boolean,
  brokerDefaults: TopicConfig,
  options: DescribeOptions,
): ConfigEntry {
  const rule = topicConfigRules[key];
  const brokerValue = brokerDefaults[key];
  const synonyms: Encodable<DescribeConfigsSynonym>[] = [];
  if (overridden) synonyms.push({ name: key, value: renderTopicConfigValue(key, value), source: ConfigSource.TOPIC_CONFIG });
  synonyms.push(...brokerSynonyms(key, brokerValue));
  const source = topicConfigSource(key, overridden, brokerDefaults);
  return entry(rule, key, renderTopicConfigValue(key, value), source, synonyms, false, options);
}

/**
 * The broker settings behind a topic config: the agent's own when it differs from Kafka's default,
 * then Kafka's default, which Kafka lists only when the first broker name carries it (so none for
 * retention.ms, segment.ms, segment.jitter.ms and flush.ms, as Kafka 3.9 answers).
 */
function brokerSynonyms(key: TopicConfigKey, brokerValue: TopicConfigValue): Encodable<DescribeConfigsSynonym>[] {
  const rule = topicConfigRules[key];
  const names = rule.synonyms ?? [];
  if (names.length === 0) return [];
  return settingSynonyms(
    names[0]!,
    renderTopicConfigValue(key, brokerValue),
    renderTopicConfigValue(key, rule.default),
    names.length === 1,
  );
}

/** A broker setting's synonyms, most specific first: the agent's value when it is not the default, then the default (when `withDefault`). */
function settingSynonyms(name: string, value: string, defaultValue: string, withDefault: boolean): Encodable<DescribeConfigsSynonym>[] {
  return [
    ...(value === defaultValue ? [] : [{ name, value, source: ConfigSource.STATIC_BROKER_CONFIG }]),
    ...(withDefault ? [{ name, value: defaultValue, source: ConfigSource.DEFAULT_CONFIG }] : []),
  ];
}

/** Where a topic's value of `key` comes from: the topic itself, or the broker setting behind it (DescribeConfigs, CreateTopics v5+). */
export function topicConfigSource(key: TopicConfigKey, overridden: boolean, brokerDefaults: TopicConfig): number {
  return overridden ? ConfigSource.TOPIC_CONFIG : brokerSource(key, brokerDefaults[key]);
}

function brokerSource(key: TopicConfigKey, brokerValue: TopicConfigValue): number {
  return settingSource(brokerValue, topicConfigRules[key].default);
}

/** A broker setting's source: Kafka's default, or the agent's own (set when it starts). */
function settingSource(value: TopicConfigValue, defaultValue: TopicConfigValue): number {
  return value === defaultValue ? ConfigSource.DEFAULT_CONFIG : ConfigSource.STATIC_BROKER_CONFIG;
}

interface DescribeOptions {
  readonly synonyms: boolean;
  readonly documentation: boolean;
}

function entry(
  rule: ConfigRule,
  name: string,
  value: string,
  source: number,
  synonyms: Encodable<DescribeConfigsSynonym>[],
  readOnly: boolean,
  options: DescribeOptions,
): ConfigEntry {
  return {
    name,
    value,
    readOnly,
    isDefault: source === ConfigSource.DEFAULT_CONFIG,
    configSource: source,
    isSensitive: false,
    synonyms: options.synonyms ? synonyms : [],
    configType: configType(rule),
    documentation: options.documentation ? documentation(rule) : null,
  };
}

/** Kafka's producer.id.expiration.ms, a broker config with no topic config behind it (Spool's SPOOL_PRODUCER_ID_EXPIRATION_MS). */
const producerIdExpiration: ConfigRule = {
  kind: 'integer',
  long: false,
  min: 1,
  max: 2 ** 31 - 1,
  default: defaultProducerIdExpirationMs,
  meaning:
    "The time in ms that a topic partition leader will wait before expiring producer IDs. Spool counts from the producer's last commit.",
  honoured: true,
};

/** The agent's defaults behind topic configs, under Kafka's broker names, and its broker-only settings: read-only, set when the agent starts. */
function brokerEntries(settings: LogSettings, options: DescribeOptions): ConfigEntry[] {
  const brokerDefaults = settings.topicDefaults;
  const [name, value, defaultValue] = ['producer.id.expiration.ms', settings.producerIdExpirationMs, producerIdExpiration.default];
  const entries: ConfigEntry[] = [
    entry(
      producerIdExpiration,
      name,
      String(value),
      settingSource(value, defaultValue),
      settingSynonyms(name, String(value), String(defaultValue), true),
      true,
      options,
    ),
  ];
  for (const key of topicConfigKeys) {
    const rule = topicConfigRules[key];
    const name = rule.synonyms?.[0];
    if (name === undefined) continue;
    const value = brokerDefaults[key];
    entries.push(
      entry(rule, name, renderTopicConfigValue(key, value), brokerSource(key, value), brokerSynonyms(key, value), true, options),
    );
  }
  return entries.sort((a, b) => a.name!.localeCompare(b.name!));
}

/** The broker resource name this agent answers for: its node id, or "" (the cluster-wide defaults). */
function checkBrokerName(deps: BrokerDeps, name: string): void {
  const self = String(deps.cluster.self.nodeId);
  if (name !== '' && name !== self)
    throw new SpoolError('INVALID_ARGUMENT', `Unexpected broker id, expected ${self} or empty string, but received ${name}`);
}

function unsupportedType(type: number): SpoolError {
  return new SpoolError('INVALID_ARGUMENT', `resource type ${type} is not supported; expected 2 (topic), 4 (broker) or 32 (group)`);
}

/** A share group's settings as config entries: set on the group (DYNAMIC_GROUP_CONFIG), or the default. */
async function groupEntries(deps: BrokerDeps, group: string, options: DescribeOptions): Promise<ConfigEntry[]> {
  const { set, effective } = await deps.queues.configOf(group);
  return shareConfigKeys.map((key) => {
    const rule = shareConfigRules[key];
    const source = set[key] === undefined ? ConfigSource.DEFAULT_CONFIG : ConfigSource.DYNAMIC_GROUP_CONFIG;
    const value = String(effective[key]);
    const synonyms = [
      ...(source === ConfigSource.DYNAMIC_GROUP_CONFIG ? [{ name: key, value, source }] : []),
      { name: key, value: String(defaultShareConfig[key]), source: ConfigSource.DEFAULT_CONFIG },
    ];
    return {
      name: key,
      value,
      readOnly: false,
      isDefault: source === ConfigSource.DEFAULT_CONFIG,
      configSource: source,
      isSensitive: false,
      synonyms: options.synonyms ? synonyms : [],
      configType: rule.kind === 'integer' ? ConfigType.INT : rule.kind === 'boolean' ? ConfigType.BOOLEAN : ConfigType.STRING,
      documentation: null,
    };
  });
}

/** IncrementalAlterConfigs on a group: its share settings, SET or DELETE (checked whole before any is changed). */
async function alterGroup(deps: BrokerDeps, resource: AlterResource, validateOnly: boolean, context: RequestContext): Promise<void> {
  if (!permits(context.principal, 'admin'))
    throw new SpoolError('FORBIDDEN', `not allowed to alter the configs of group ${resource.resourceName}`);
  const changes: Record<string, string | number | null> = {};
  for (const { name, value, configOperation } of resource.configs) {
    if (!(shareConfigKeys as readonly string[]).includes(name))
      throw new SpoolError('INVALID_CONFIG', `Unknown group config name: ${name} (Spool keeps ${shareConfigKeys.join(', ')})`);
    const rule = shareConfigRules[name as ShareConfigKey];
    if (configOperation === AlterOp.DELETE) changes[name] = null;
    else if (configOperation !== AlterOp.SET)
      throw new SpoolError('INVALID_CONFIG', `Config value append or subtract is not allowed for config key: ${name}`);
    else if (value === null) throw new SpoolError('INVALID_ARGUMENT', `Null value not supported for : ${name}`);
    else changes[name] = rule.kind === 'integer' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
  }
  alteredShareConfig({}, changes); // refuses a bad value before anything changes
  if (!validateOnly) await deps.queues.alterConfig(resource.resourceName, changes);
}

export function describeConfigsHandler(deps: BrokerDeps): ApiHandler<DescribeConfigsRequest, Encodable<DescribeConfigsResponse>> {
  const { log } = deps;
  const describe = async (
    resource: DescribeConfigsRequest['resources'][number],
    options: DescribeOptions,
    context: RequestContext,
  ): Promise<ConfigEntry[]> => {
    if (resource.resourceType === ResourceType.TOPIC) {
      if (!permits(context.principal, 'read', resource.resourceName))
        throw new SpoolError('FORBIDDEN', `not allowed to describe the configs of topic ${resource.resourceName}`);
      const topic = await log.requireTopic(resource.resourceName);
      const defaults = log.settings.topicDefaults;
      const overrides = overridesOf(topic, defaults);
      return topicConfigKeys.map((key) => topicEntry(key, topic.config[key], overrides.includes(key), defaults, options));
    }
    if (resource.resourceType === ResourceType.BROKER) {
      checkBrokerName(deps, resource.resourceName);
      // "": the cluster-wide dynamic defaults, of which Spool has none.
      return resource.resourceName === '' ? [] : brokerEntries(log.settings, options);
    }
    if (resource.resourceType === ResourceType.GROUP) {
      if (!permitsGroup(context.principal, 'describe', resource.resourceName))
        throw new SpoolError('FORBIDDEN', `not allowed to describe the configs of group ${resource.resourceName}`);
      return groupEntries(deps, resource.resourceName, options);
    }
    throw unsupportedType(resource.resourceType);
  };
  return {
    codec: codecs.describeConfigs,
    async handle(request, context) {
      const options = { synonyms: request.includeSynonyms, documentation: request.includeDocumentation };
      const results = await Promise.all(
        request.resources.map(async (resource) => {
          const base = { resourceType: resource.resourceType, resourceName: resource.resourceName };
          try {
            const configs = await describe(resource, options, context);
            const keys = resource.configurationKeys;
            return {
              ...base,
              errorCode: KafkaErrors.NONE,
              errorMessage: null,
              configs: keys === null ? configs : configs.filter((c) => keys.includes(c.name!)),
            };
          } catch (error) {
            const { code, message } = kafkaErrorFor(error);
            return { ...base, errorCode: errorCodeFor(error, resource.resourceType, code), errorMessage: message, configs: [] };
          }
        }),
      );
      return { results };
    },
  };
}

/** A refusal of a broker resource is the cluster's, not a topic's. */
function errorCodeFor(error: unknown, resourceType: number, code: number): number {
  return resourceType === ResourceType.BROKER && error instanceof SpoolError && error.code === 'FORBIDDEN'
    ? KafkaErrors.CLUSTER_AUTHORIZATION_FAILED
    : code;
}

/** One resource of an alter request, as both APIs send it. */
interface AlterResource {
  readonly resourceType: number;
  readonly resourceName: string;
  readonly configs: readonly { readonly name: string; readonly value: string | null; readonly configOperation?: number }[];
}

/**
 * Runs `plan` per resource (topic: the change to make; broker: refused), and applies the topic
 * changes unless validate_only. Every resource gets its own error; none stops another.
 */
async function alterEach(
  deps: BrokerDeps,
  resources: readonly AlterResource[],
  validateOnly: boolean,
  context: RequestContext,
  plan: (resource: AlterResource, current: TopicConfig) => { config: Record<string, TopicConfigValue>; reset: TopicConfigKey[] },
  incremental: boolean,
): Promise<ResourceAnswer[]> {
  const { log } = deps;
  const answers: ResourceAnswer[] = [];
  for (const resource of resources) {
    const base = { resourceType: resource.resourceType, resourceName: resource.resourceName };
    try {
      const names = resource.configs.map((c) => c.name);
      const duplicate = names.find((name, index) => names.indexOf(name) !== index);
      if (duplicate !== undefined) throw new SpoolError('INVALID_ARGUMENT', `Error due to duplicate config keys: ${duplicate}`);
      if (resource.resourceType === ResourceType.TOPIC) {
        if (!permits(context.principal, 'admin', resource.resourceName))
          throw new SpoolError('FORBIDDEN', `not allowed to alter the configs of topic ${resource.resourceName}`);
        const topic = await log.requireTopic(resource.resourceName);
        const planned = plan(resource, topic.config);
        const config = validateTopicConfig(planned.config);
        const defaults = Object.fromEntries(planned.reset.map((key) => [key, log.settings.topicDefaults[key]]));
        validateTopicConfigSet({ ...topic.config, ...defaults, ...config });
        if (!validateOnly) await log.alterTopic(resource.resourceName, { config, reset: planned.reset });
      } else if (resource.resourceType === ResourceType.GROUP && incremental) {
        await alterGroup(deps, resource, validateOnly, context);
      } else if (resource.resourceType === ResourceType.BROKER) {
        if (!permits(context.principal, 'admin')) throw new SpoolError('FORBIDDEN', 'not allowed to alter broker configs');
        checkBrokerName(deps, resource.resourceName);
        if (names.length > 0)
          throw new SpoolError(
            'INVALID_ARGUMENT',
            `Cannot update these configs dynamically: ${names.join(', ')}. Spool's broker configs are the agent's settings, ` +
              'fixed when it starts; set per-topic configs instead',
          );
      } else {
        throw unsupportedType(resource.resourceType);
      }
      answers.push({ ...base, errorCode: KafkaErrors.NONE, errorMessage: null });
    } catch (error) {
      const { code, message } = kafkaErrorFor(error);
      answers.push({ ...base, errorCode: errorCodeFor(error, resource.resourceType, code), errorMessage: message });
    }
  }
  return answers;
}

export function alterConfigsHandler(deps: BrokerDeps): ApiHandler<AlterConfigsRequest, Encodable<AlterConfigsResponse>> {
  return {
    codec: codecs.alterConfigs,
    async handle(request, context) {
      const responses = await alterEach(
        deps,
        request.resources,
        request.validateOnly,
        context,
        (resource) => {
          // The whole set: what the request names; every other config returns to its default (a null value is left out, as in Kafka).
          const config: Record<string, TopicConfigValue> = {};
          for (const { name, value } of resource.configs)
            if (value !== null) config[checkTopicConfigKey(name)] = parseTopicConfigValue(name, value);
          return { config, reset: topicConfigKeys.filter((key) => !Object.hasOwn(config, key)) };
        },
        false,
      );
      return { responses };
    },
  };
}

export function incrementalAlterConfigsHandler(
  deps: BrokerDeps,
): ApiHandler<IncrementalAlterConfigsRequest, Encodable<IncrementalAlterConfigsResponse>> {
  return {
    codec: codecs.incrementalAlterConfigs,
    async handle(request, context) {
      const responses = await alterEach(
        deps,
        request.resources,
        request.validateOnly,
        context,
        (resource, current) => {
          // Only the configs named change; the engine merges them over the topic's current set.
          const change: Record<string, TopicConfigValue> = {};
          const reset: TopicConfigKey[] = [];
          for (const { name, value, configOperation } of resource.configs) {
            const key = checkTopicConfigKey(name);
            const rule = topicConfigRules[key];
            if (configOperation === AlterOp.DELETE) {
              reset.push(key);
              continue;
            }
            if (configOperation !== AlterOp.SET && configOperation !== AlterOp.APPEND && configOperation !== AlterOp.SUBTRACT)
              throw new SpoolError('INVALID_ARGUMENT', `unknown config operation ${configOperation} for ${key}; expected 0 to 3`);
            if (value === null) throw new SpoolError('INVALID_ARGUMENT', `Null value not supported for : ${key}`);
            if (configOperation === AlterOp.SET) {
              change[key] = parseTopicConfigValue(key, value);
              continue;
            }
            const verb = configOperation === AlterOp.APPEND ? 'append' : 'subtract';
            if (rule.kind !== 'list') throw new SpoolError('INVALID_CONFIG', `Config value ${verb} is not allowed for config key: ${key}`);
            const items = listItems(String(current[key]));
            const given = listItems(value).map((item) => item.trim());
            const next =
              configOperation === AlterOp.APPEND
                ? [...items, ...given.filter((item) => !items.includes(item))]
                : items.filter((item) => !given.includes(item));
            change[key] = parseTopicConfigValue(key, next.join(','));
          }
          return { config: change, reset };
        },
        true,
      );
      return { responses };
    },
  };
}
