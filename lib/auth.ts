/**
 * API keys with per-topic permissions, for the HTTP API. A key is `spool_<id>_<secret>`: the id
 * finds its item, the secret (32 random bytes) is never stored — only its SHA-256 — and is shown
 * once, when the key is made. A permission grants actions on topics named exactly, by a prefix
 * ending in `*`, or `*` for all:
 *   read   describe topics, fetch, offsets, consume in groups
 *   write  produce (including creating a topic on first produce)
 *   admin  create, alter and delete topics; reset and delete groups; maintenance; manage keys
 * `admin` implies `read` and `write`. A bootstrap token (SPOOL_AUTH_TOKEN) is an admin on `*`.
 *
 *   pk "auth"   sk "key#<id>"   { name, hash, permissions: [{ topics, actions }], createdMs }
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { describeValue, SpoolError } from './errors.js';
import type { MetadataStore } from './storage/ports.js';

export type Action = 'read' | 'write' | 'admin';
export const actions: readonly Action[] = ['read', 'write', 'admin'];

export interface Permission {
  /** A topic name, a prefix ending in `*`, or `*`. */
  readonly topics: string;
  readonly actions: readonly Action[];
}

export interface Principal {
  readonly id: string;
  readonly name: string;
  readonly permissions: readonly Permission[];
}

export interface KeyInfo extends Principal {
  readonly createdMs: number;
}

const authPk = 'auth';
const keyPattern = /^spool_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Whether the principal may do `action` on `topic` (undefined: on the service as a whole). */
export function allows(principal: Principal, action: Action, topic?: string): boolean {
  return principal.permissions.some(
    (permission) =>
      (permission.actions.includes(action) || permission.actions.includes('admin')) &&
      (permission.topics === '*' || (topic !== undefined && (permission.topics.endsWith('*') ? topic.startsWith(permission.topics.slice(0, -1)) : topic === permission.topics))),
  );
}

export function checkPermissions(permissions: unknown): Permission[] {
  if (!Array.isArray(permissions) || permissions.length === 0) {
    throw new SpoolError('INVALID_ARGUMENT', `permissions: expected a non-empty array of {topics, actions}, got ${describeValue(permissions)}`, { details: { field: 'permissions' } });
  }
  return permissions.map((p, index) => {
    const topics = (p as Permission)?.topics;
    const granted = (p as Permission)?.actions;
    if (typeof topics !== 'string' || !/^(\*|[a-zA-Z0-9._-]+\*?)$/.test(topics)) {
      throw new SpoolError('INVALID_ARGUMENT', `permissions[${index}].topics: expected a topic name, a prefix ending in "*", or "*", got ${describeValue(topics)}`, {
        details: { field: `permissions[${index}].topics` },
      });
    }
    if (!Array.isArray(granted) || granted.length === 0 || granted.some((a) => !actions.includes(a))) {
      throw new SpoolError('INVALID_ARGUMENT', `permissions[${index}].actions: expected some of ${actions.join(', ')}, got ${describeValue(granted)}`, {
        details: { field: `permissions[${index}].actions` },
      });
    }
    return { topics, actions: [...new Set(granted)] };
  });
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
      key: { pk: authPk, sk: `key#${id}` },
      attrs: { name, hash: sha256(key).toString('hex'), permissions: info.permissions.map((p) => ({ topics: p.topics, actions: [...p.actions] })), createdMs: info.createdMs },
      condition: { kind: 'absent' },
    });
    return { ...info, key };
  }

  async list(): Promise<KeyInfo[]> {
    return (await this.metadata.query(authPk)).map((item) => ({
      id: item.sk.slice('key#'.length),
      name: item.attrs.name as string,
      permissions: item.attrs.permissions as unknown as Permission[],
      createdMs: item.attrs.createdMs as number,
    }));
  }

  async revoke(id: string): Promise<void> {
    const existing = await this.metadata.get({ pk: authPk, sk: `key#${id}` });
    if (!existing) throw new SpoolError('KEY_NOT_FOUND', `no API key with id ${JSON.stringify(id)}`);
    await this.metadata.write({ kind: 'delete', key: { pk: authPk, sk: `key#${id}` } });
  }

  /** The principal a bearer token names; UNAUTHENTICATED when it names none. */
  async authenticate(token: string | undefined): Promise<Principal> {
    if (token === undefined || token === '') throw new SpoolError('UNAUTHENTICATED', 'this API needs a bearer token (Authorization: Bearer <key>)');
    const presented = sha256(token);
    if (this.rootHash && timingSafeEqual(presented, this.rootHash)) return { id: 'root', name: 'bootstrap token', permissions: [{ topics: '*', actions: ['admin'] }] };
    const match = keyPattern.exec(token);
    const item = match && (await this.metadata.get({ pk: authPk, sk: `key#${match[1]}` }));
    if (!match || !item || !timingSafeEqual(presented, Buffer.from(item.attrs.hash as string, 'hex'))) {
      throw new SpoolError('UNAUTHENTICATED', 'the bearer token is not a valid API key (unknown, revoked or mistyped)');
    }
    return { id: match[1]!, name: item.attrs.name as string, permissions: item.attrs.permissions as unknown as Permission[] };
  }
}
