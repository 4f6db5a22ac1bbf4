/**
 * What an API key may do, as data and pure checks (no I/O, no Node APIs): shared by the HTTP API and the
 * Kafka listener (through lib/auth.ts, which holds the keys) and by the web console, which shows each key
 * only what it may do. The meaning of each action is lib/auth.ts's module comment.
 */
export type Action = 'read' | 'write' | 'admin';
export const actions: readonly Action[] = ['read', 'write', 'admin'];
export type GroupAction = 'read' | 'describe' | 'delete';
export const groupActions: readonly (GroupAction | 'admin')[] = ['read', 'describe', 'delete', 'admin'];

/** A grant on topics, or on consumer groups (exactly one of the two names it). */
export type Permission =
  | { readonly topics: string; readonly groups?: undefined; readonly actions: readonly Action[] }
  | { readonly groups: string; readonly topics?: undefined; readonly actions: readonly (GroupAction | 'admin')[] };

export interface Principal {
  readonly id: string;
  readonly name: string;
  readonly permissions: readonly Permission[];
}

/** A name matched by a grant: exactly, by a prefix ending in `*`, or `*` for all. */
function covers(pattern: string, name: string | undefined): boolean {
  return pattern === '*' || (name !== undefined && (pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern));
}

/** Whether the principal may do `action` on `topic` (undefined: on the service as a whole). */
export function allows(principal: Pick<Principal, 'permissions'>, action: Action, topic?: string): boolean {
  return principal.permissions.some(
    (permission) =>
      permission.topics !== undefined &&
      (permission.actions.includes(action) || permission.actions.includes('admin')) &&
      covers(permission.topics, topic),
  );
}

/** Whether the principal may do `action` on the consumer group `group` (read and delete imply describe; the service admin may do all). */
export function allowsGroup(principal: Pick<Principal, 'permissions'>, action: GroupAction, group: string): boolean {
  if (allows(principal, 'admin')) return true;
  const implied: readonly (GroupAction | 'admin')[] = action === 'describe' ? ['describe', 'read', 'delete', 'admin'] : [action, 'admin'];
  return principal.permissions.some(
    (permission) =>
      permission.groups !== undefined &&
      permission.actions.some((granted) => implied.includes(granted)) &&
      covers(permission.groups, group),
  );
}
