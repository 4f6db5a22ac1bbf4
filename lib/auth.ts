/**
 * API keys with per-topic and per-group permissions, for the HTTP API and the Kafka listener. A key
 * is `spool_<id>_<secret>`: the id finds its item, the secret (32 random bytes) is never stored —
 * only its SHA-256 — and is shown once, when the key is made. A permission grants actions on topics,
 * or on consumer groups, named exactly, by a prefix ending in `*`, or `*` for all:
 *   topics:  read    describe topics, fetch, list offsets
 *            write   produce (including creating a topic on first produce)
 *            admin   create, alter and delete topics; maintenance; manage keys (on `*`: the service)
 *   groups:  read    join, poll, heartbeat, leave, commit and reset offsets (Kafka's READ on a group)
 *            describe  describe the group, read its offsets, see it listed (Kafka's DESCRIBE)
 *            delete  delete the group (Kafka's DELETE)
 *            admin   all of these
 * As Kafka's ACLs: consuming needs read on the group and on its topics; group read and delete imply
 * describe; topic admin implies read and write. `admin` on topics `*` (the bootstrap token,
 * SPOOL_AUTH_TOKEN) may do everything, groups included. A key made before group permissions existed
 * has none: it may use topics as before, but no group until it is made again with a group grant.
 * Items: lib/keys.ts, "API key".
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { describeValue, SpoolError } from './errors.js';
import { apiKeyIdOf, apiKeyKey, authPk } from './keys.js';
import type { MetadataStore } from './storage/ports.js';
import { actions, groupActions, type Action, type GroupAction, type Permission, type Principal } from './permissions.js';

export {
  type Action,
  actions,
  allows,
  allowsGroup,
  type GroupAction,
  groupActions,
  type Permission,
  type Principal,
} from './permissions.js';

export interface KeyInfo extends Principal {
  readonly createdMs: number;
}

const keyPattern = /^spool_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;

const sha256 = (text: string) => createHash('sha256').update(text).digest();

const namePattern = /^(\*|[a-zA-Z0-9._-]+\*?)$/;

export function checkPermissions(permissions: unknown): Permission[] {
  if (!Array.isArray(permissions) || permissions.length === 0) {
    throw new SpoolError(
      'INVALID_ARGUMENT',
      `permissions: expected a non-empty array of {topics, actions} or {groups, actions}, got ${describeValue(permissions)}`,
      {
        details: { field: 'permissions' },
      },
    );
  }
  return permissions.map((p: { topics?: unknown; groups?: unknown; actions?: unknown } | null, index): Permission => {
    const invalid = (field: string, expected: string, got: unknown) =>
      new SpoolError('INVALID_ARGUMENT', `permissions[${index}].${field}: expected ${expected}, got ${describeValue(got)}`, {
        details: { field: `permissions[${index}].${field}` },
      });
    const kind = p?.topics !== undefined ? 'topics' : 'groups';
    if ((p?.topics === undefined) === (p?.groups === undefined))
      throw invalid('topics', 'exactly one of topics or groups', p?.topics ?? p?.groups);
    const names = p![kind];
    if (typeof names !== 'string' || !namePattern.test(names))
      throw invalid(kind, `a ${kind === 'topics' ? 'topic' : 'group'} name, a prefix ending in "*", or "*"`, names);
    const allowed: readonly string[] = kind === 'topics' ? actions : groupActions;
    const granted = p!.actions;
    if (!Array.isArray(granted) || granted.length === 0 || granted.some((a) => !allowed.includes(a)))
      throw invalid('actions', `some of ${allowed.join(', ')}`, granted);
    const unique = [...new Set(granted as string[])];
    return kind === 'topics'
      ? { topics: names, actions: unique as Action[] }
      : { groups: names, actions: unique as (GroupAction | 'admin')[] };
  });
}

/** A permission as stored and shown: the name it grants on, and its actions. */
export function permissionAttrs(
  permission: Permission,
): { topics: string; actions: Action[] } | { groups: string; actions: (GroupAction | 'admin')[] } {
  return permission.topics !== undefined
    ? { topics: permission.topics, actions: [...permission.actions] }
    : { groups: permission.groups, actions: [...permission.actions] };
}

export class ApiKeys {
  private readonly rootHash: Buffer | undefined;

  constructor(
    private readonly metadata: MetadataStore,
    options: { rootToken?: string; now?: () => number } = {},
  ) {
    this.rootHash = options.rootToken ? sha256(options.rootToken) : undefined;
    this.now = options.now ?? Date.now;
  }

  private readonly now: () => number;

  /** Makes a key; the answer holds the only copy of its secret. */
  async create(name: string, permissions: readonly Permission[]): Promise<KeyInfo & { key: string }> {
    const id = randomBytes(10).toString('hex').slice(0, 16);
    const secret = randomBytes(32).toString('base64url');
    const key = `spool_${id}_${secret}`;
    const info: KeyInfo = { id, name, permissions: checkPermissions(permissions), createdMs: this.now() };
    await this.metadata.write({
      kind: 'put',
      key: apiKeyKey(id),
      attrs: { name, hash: sha256(key).toString('hex'), permissions: info.permissions.map(permissionAttrs), createdMs: info.createdMs },
      condition: { kind: 'absent' },
    });
    return { ...info, key };
  }

  async list(): Promise<KeyInfo[]> {
    return (await this.metadata.query(authPk)).map((item) => ({
      id: apiKeyIdOf(item.sk),
      name: item.attrs.name as string,
      permissions: item.attrs.permissions as unknown as Permission[],
      createdMs: item.attrs.createdMs as number,
    }));
  }

  async revoke(id: string): Promise<void> {
    const existing = await this.metadata.get(apiKeyKey(id));
    if (!existing) throw new SpoolError('KEY_NOT_FOUND', `no API key with id ${JSON.stringify(id)}`);
    await this.metadata.write({ kind: 'delete', key: apiKeyKey(id) });
  }

  /** The principal a bearer token names; UNAUTHENTICATED when it names none. */
  async authenticate(token: string | undefined): Promise<Principal> {
    if (token === undefined || token === '')
      throw new SpoolError('UNAUTHENTICATED', 'this API needs a bearer token (Authorization: Bearer <key>)');
    const presented = sha256(token);
    if (this.rootHash && timingSafeEqual(presented, this.rootHash))
      return { id: 'root', name: 'bootstrap token', permissions: [{ topics: '*', actions: ['admin'] }] };
    const match = keyPattern.exec(token);
    const item = match && (await this.metadata.get(apiKeyKey(match[1]!)));
    if (!match || !item || !timingSafeEqual(presented, Buffer.from(item.attrs.hash as string, 'hex'))) {
      throw new SpoolError('UNAUTHENTICATED', 'the bearer token is not a valid API key (unknown, revoked or mistyped)');
    }
    return { id: match[1]!, name: item.attrs.name as string, permissions: item.attrs.permissions as unknown as Permission[] };
  }
}
