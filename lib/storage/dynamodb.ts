/**
 * MetadataStore on Amazon DynamoDB (or DynamoDB Local / LocalStack). One table, string partition key
 * `pk` and sort key `sk`; every other attribute is the item's. Conditions become condition
 * expressions built from named constants below; every read is strongly consistent. A failed condition
 * returns the item as it is now (`ReturnValuesOnConditionCheckFailure: ALL_OLD`), so the caller can
 * decide without another read; where an emulator omits it, we read it consistently instead.
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  waitUntilTableExists,
  type AttributeValue as DynamoValue,
  type ConsumedCapacity,
  type QueryCommandOutput,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { SpoolError } from '../errors.js';
import { mapAwsError, mapCancellation } from './aws-errors.js';
import { ConditionFailedError, TransactionConflictError } from './ports.js';
import type { Attributes, AttributeValue, Condition, Item, ItemKey, MetadataStore, QueryOptions, WriteOp } from './ports.js';
import { checkQuery, checkTransaction, checkWrite, conditionHolds } from './metadata-semantics.js';

const itemExists = 'attribute_exists(#pk)';
const itemAbsent = 'attribute_not_exists(#pk)';
const reservedNames = new Set(['pk', 'sk']);

interface Expression {
  expression?: string;
  names: Record<string, string>;
  values: Record<string, DynamoValue>;
}

export class DynamoMetadataStore implements MetadataStore {
  readonly url: string;
  /** Capacity units DynamoDB reports as consumed, for cost reports. */
  readonly consumed = { readUnits: 0, writeUnits: 0 };

  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
  ) {
    this.url = `dynamodb://${tableName}`;
  }

  async get(key: ItemKey): Promise<Item | undefined> {
    try {
      const response = await this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: marshallKey(key), ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL' }),
      );
      this.count(response.ConsumedCapacity);
      return response.Item && toItem(response.Item);
    } catch (error) {
      throw mapAwsError(error, `GetItem ${key.pk}`);
    }
  }

  async query(pk: string, options: QueryOptions = {}): Promise<Item[]> {
    checkQuery(options);
    const values: Record<string, DynamoValue> = { ':pk': { S: pk } };
    let keyCondition = '#pk = :pk';
    if (options.from !== undefined && options.to !== undefined) {
      if (options.from > options.to) return [];
      keyCondition += ' AND #sk BETWEEN :from AND :to';
    } else if (options.from !== undefined) keyCondition += ' AND #sk >= :from';
    else if (options.to !== undefined) keyCondition += ' AND #sk <= :to';
    if (options.from !== undefined) values[':from'] = { S: options.from };
    if (options.to !== undefined) values[':to'] = { S: options.to };

    const items: Item[] = [];
    let startKey: Record<string, DynamoValue> | undefined;
    do {
      let response: QueryCommandOutput;
      try {
        response = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: keyCondition,
            ExpressionAttributeNames: keyCondition.includes('#sk') ? { '#pk': 'pk', '#sk': 'sk' } : { '#pk': 'pk' },
            ExpressionAttributeValues: values,
            ScanIndexForward: !options.reverse,
            ConsistentRead: true,
            Limit: options.limit === undefined ? undefined : options.limit - items.length,
            ExclusiveStartKey: startKey,
            ReturnConsumedCapacity: 'TOTAL',
          }),
        );
      } catch (error) {
        throw mapAwsError(error, `Query ${pk}`);
      }
      this.count(response.ConsumedCapacity);
      for (const raw of response.Items ?? []) items.push(toItem(raw));
      startKey = response.LastEvaluatedKey;
    } while (startKey !== undefined && (options.limit === undefined || items.length < options.limit));
    return items;
  }

  async write(op: WriteOp): Promise<void> {
    checkWrite(op);
    try {
      switch (op.kind) {
        case 'put': {
          const condition = conditionExpression(op.condition);
          const response = await this.client.send(
            new PutItemCommand({
              TableName: this.tableName,
              Item: marshallItem(op.key, op.attrs),
              ...expressionParams(condition),
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
          this.count(response.ConsumedCapacity);
          return;
        }
        case 'update': {
          const update = updateExpression(op.set, op.remove ?? [], op.condition);
          const response = await this.client.send(
            new UpdateItemCommand({
              TableName: this.tableName,
              Key: marshallKey(op.key),
              UpdateExpression: update.update,
              ...expressionParams(update.condition),
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
          this.count(response.ConsumedCapacity);
          return;
        }
        case 'delete': {
          const condition = conditionExpression(op.condition);
          const response = await this.client.send(
            new DeleteItemCommand({
              TableName: this.tableName,
              Key: marshallKey(op.key),
              ...expressionParams(condition),
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
          this.count(response.ConsumedCapacity);
          return;
        }
        case 'check': {
          const current = await this.get(op.key);
          if (!conditionHolds(current, op.condition)) throw new ConditionFailedError(op.key, current);
          return;
        }
      }
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        const current = error.Item ? toItem(error.Item) : await this.get(op.key);
        throw new ConditionFailedError(op.key, current);
      }
      throw mapAwsError(error, `${op.kind} ${op.key.pk}`);
    }
  }

  async transact(ops: readonly WriteOp[]): Promise<void> {
    checkTransaction(ops);
    try {
      const response = await this.client.send(
        new TransactWriteItemsCommand({ TransactItems: ops.map((op) => this.transactItem(op)), ReturnConsumedCapacity: 'TOTAL' }),
      );
      for (const capacity of response.ConsumedCapacity ?? []) this.count(capacity);
    } catch (error) {
      if (error instanceof TransactionCanceledException) {
        const reasons = error.CancellationReasons ?? [];
        const failed = reasons.flatMap((reason, index) => (reason.Code === 'ConditionalCheckFailed' ? [{ index, reason }] : []));
        if (failed.length > 0) {
          const conflicts = await Promise.all(
            failed.map(async ({ index, reason }) => ({
              index,
              current: reason.Item ? toItem(reason.Item) : await this.get(ops[index]!.key),
            })),
          );
          throw new TransactionConflictError(conflicts);
        }
        throw mapCancellation(
          reasons.map((reason) => reason.Code ?? 'None'),
          error,
        );
      }
      throw mapAwsError(error, `TransactWriteItems of ${ops.length}`);
    }
  }

  async ensureReady(): Promise<void> {
    try {
      await this.client.send(new DescribeTableCommand({ TableName: this.tableName }));
      return;
    } catch (error) {
      if ((error as { name?: string }).name !== 'ResourceNotFoundException') throw mapAwsError(error, `DescribeTable ${this.tableName}`);
    }
    try {
      await this.client.send(
        new CreateTableCommand({
          TableName: this.tableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
        }),
      );
    } catch (error) {
      if ((error as { name?: string }).name !== 'ResourceInUseException') throw mapAwsError(error, `CreateTable ${this.tableName}`);
    }
    await waitUntilTableExists({ client: this.client, maxWaitTime: 60 }, { TableName: this.tableName });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private count(capacity: ConsumedCapacity | undefined): void {
    this.consumed.readUnits += capacity?.ReadCapacityUnits ?? 0;
    this.consumed.writeUnits += capacity?.WriteCapacityUnits ?? 0;
  }

  private transactItem(op: WriteOp): TransactWriteItem {
    const TableName = this.tableName;
    switch (op.kind) {
      case 'put':
        return {
          Put: {
            TableName,
            Item: marshallItem(op.key, op.attrs),
            ...expressionParams(conditionExpression(op.condition)),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        };
      case 'update': {
        const update = updateExpression(op.set, op.remove ?? [], op.condition);
        return {
          Update: {
            TableName,
            Key: marshallKey(op.key),
            UpdateExpression: update.update,
            ...expressionParams(update.condition),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        };
      }
      case 'delete':
        return {
          Delete: {
            TableName,
            Key: marshallKey(op.key),
            ...expressionParams(conditionExpression(op.condition)),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        };
      case 'check': {
        const condition = conditionExpression(op.condition);
        return {
          ConditionCheck: {
            TableName,
            Key: marshallKey(op.key),
            ConditionExpression: condition.expression!,
            ExpressionAttributeNames: condition.names,
            ExpressionAttributeValues: emptyToUndefined(condition.values),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        };
      }
    }
  }
}

function conditionExpression(
  condition: Condition | undefined,
  names: Record<string, string> = {},
  values: Record<string, DynamoValue> = {},
): Expression {
  if (condition === undefined) return { names, values };
  names['#pk'] = 'pk';
  switch (condition.kind) {
    case 'absent':
      return { expression: itemAbsent, names, values };
    case 'exists':
      return { expression: itemExists, names, values };
    case 'match': {
      const clauses = [itemExists];
      Object.entries(condition.fields).forEach(([name, expected], index) => {
        checkAttributeName(name);
        names[`#c${index}`] = name;
        if (expected === null) {
          values[':null'] = { NULL: true };
          clauses.push(`(attribute_not_exists(#c${index}) OR #c${index} = :null)`);
        } else {
          values[`:c${index}`] = marshallValue(expected);
          clauses.push(`#c${index} = :c${index}`);
        }
      });
      return { expression: clauses.join(' AND '), names, values };
    }
  }
}

function updateExpression(
  set: Attributes,
  remove: readonly string[],
  condition: Condition | undefined,
): { update: string; condition: Expression } {
  const names: Record<string, string> = {};
  const values: Record<string, DynamoValue> = {};
  const setClauses = Object.entries(set)
    .filter(([, value]) => value !== undefined)
    .map(([name, value], index) => {
      checkAttributeName(name);
      names[`#s${index}`] = name;
      values[`:s${index}`] = marshallValue(value);
      return `#s${index} = :s${index}`;
    });
  const removeClauses = remove.map((name, index) => {
    checkAttributeName(name);
    names[`#r${index}`] = name;
    return `#r${index}`;
  });
  const parts = [];
  if (setClauses.length > 0) parts.push(`SET ${setClauses.join(', ')}`);
  if (removeClauses.length > 0) parts.push(`REMOVE ${removeClauses.join(', ')}`);
  return { update: parts.join(' '), condition: conditionExpression(condition, names, values) };
}

function expressionParams(expression: Expression) {
  const names = Object.keys(expression.names).length > 0 ? expression.names : undefined;
  return {
    ConditionExpression: expression.expression,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: emptyToUndefined(expression.values),
  };
}

function emptyToUndefined(values: Record<string, DynamoValue>): Record<string, DynamoValue> | undefined {
  return Object.keys(values).length > 0 ? values : undefined;
}

function checkAttributeName(name: string): void {
  if (reservedNames.has(name)) throw new SpoolError('INVALID_ARGUMENT', `attribute name ${name} is reserved for the key`);
}

function marshallKey(key: ItemKey): Record<string, DynamoValue> {
  return { pk: { S: key.pk }, sk: { S: key.sk } };
}

function marshallItem(key: ItemKey, attrs: Attributes): Record<string, DynamoValue> {
  for (const name of Object.keys(attrs)) checkAttributeName(name);
  return { ...marshall(attrs, { removeUndefinedValues: true }), ...marshallKey(key) };
}

function marshallValue(value: AttributeValue): DynamoValue {
  return marshall({ v: value }, { removeUndefinedValues: true }).v!;
}

function toItem(raw: Record<string, DynamoValue>): Item {
  const { pk, sk, ...rest } = unmarshall(raw) as Record<string, unknown>;
  return { pk: pk as string, sk: sk as string, attrs: toBuffers(rest) as Attributes };
}

// unmarshall gives Uint8Array for binary values; the port promises Buffer.
function toBuffers(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(toBuffers);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toBuffers(v)]));
  return value;
}
