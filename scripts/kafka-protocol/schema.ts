/**
 * Kafka's JSON message schemas, read from a kafka-clients jar and merged across two releases.
 *
 * The model is Kafka's own (generator/src/main/java/org/apache/kafka/message: MessageSpec,
 * FieldSpec, Versions), with every version set made finite: a field's "0+" is cut to the versions
 * its file declares valid, and after the merge every set names exactly the versions in which the
 * field is on the wire (before intersecting with its parent's).
 *
 * Merge: for each version v of a message, the newest release defines v if v is among its
 * validVersions, otherwise the baseline does. Fields are matched by name at each struct level; a
 * field's version sets (versions, nullableVersions, taggedVersions) are the newest release's within
 * the versions it defines plus the baseline's within the versions the baseline defines. A field
 * only in the baseline keeps its place after its baseline predecessor. Anything the merge cannot
 * reconcile (a field whose type, tag or default differs between the releases, a version whose merged
 * field order differs from its own schema's, flexible versions that are not a suffix) is an error,
 * never a guess.
 */
import { basename } from 'node:path';
import { readJarEntries } from './jar.js';

// ---------- version sets ----------

/** A finite, sorted set of versions. */
export class Versions {
  static readonly none = new Versions([]);

  private constructor(readonly list: readonly number[]) {}

  static of(versions: Iterable<number>): Versions {
    return new Versions([...new Set(versions)].sort((a, b) => a - b));
  }

  static range(lowest: number, highest: number): Versions {
    const list: number[] = [];
    for (let v = lowest; v <= highest; v++) list.push(v);
    return new Versions(list);
  }

  /** Kafka's syntax ("none", "3", "1-4", "2+"), cut to `within`. */
  static parse(text: string, within: Versions, what: string): Versions {
    const trimmed = text.trim();
    if (trimmed === 'none') return Versions.none;
    const match = /^(\d+)(?:(\+)|-(\d+))?$/.exec(trimmed);
    if (!match) throw new Error(`${what}: version range must be "none", "N", "N-M" or "N+", got "${text}"`);
    const lowest = Number(match[1]);
    const highest = match[2] ? Infinity : match[3] !== undefined ? Number(match[3]) : lowest;
    if (highest < lowest) throw new Error(`${what}: version range "${text}" is empty`);
    return new Versions(within.list.filter((v) => v >= lowest && v <= highest));
  }

  get empty(): boolean {
    return this.list.length === 0;
  }

  get lowest(): number {
    if (this.empty) throw new Error('an empty version set has no lowest version');
    return this.list[0]!;
  }

  get highest(): number {
    if (this.empty) throw new Error('an empty version set has no highest version');
    return this.list[this.list.length - 1]!;
  }

  has(version: number): boolean {
    return this.list.includes(version);
  }

  intersect(other: Versions): Versions {
    return new Versions(this.list.filter((v) => other.has(v)));
  }

  union(other: Versions): Versions {
    return Versions.of([...this.list, ...other.list]);
  }

  subtract(other: Versions): Versions {
    return new Versions(this.list.filter((v) => !other.has(v)));
  }

  contains(other: Versions): boolean {
    return other.list.every((v) => this.has(v));
  }

  equals(other: Versions): boolean {
    return this.list.length === other.list.length && this.contains(other);
  }

  /** Runs of consecutive versions, as [lowest, highest] pairs. */
  runs(): [number, number][] {
    const runs: [number, number][] = [];
    for (const v of this.list) {
      const last = runs[runs.length - 1];
      if (last && last[1] === v - 1) last[1] = v;
      else runs.push([v, v]);
    }
    return runs;
  }

  /** "none", "3", "1-4", or "0, 3-5"; a run reaching `openAt` (the highest version generated) is written "N+". */
  describe(openAt?: number): string {
    if (this.empty) return 'none';
    return this.runs()
      .map(([lo, hi]) => (hi === openAt ? `${lo}+` : lo === hi ? `${lo}` : `${lo}-${hi}`))
      .join(', ');
  }
}

// ---------- the model ----------

export const primitiveTypes = [
  'bool',
  'int8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'float64',
  'string',
  'bytes',
  'uuid',
  'records',
] as const;
export type PrimitiveType = (typeof primitiveTypes)[number];

export type ElementType = { readonly kind: 'primitive'; readonly name: PrimitiveType } | { readonly kind: 'struct'; readonly name: string };
export type FieldType = ElementType | { readonly kind: 'array'; readonly element: ElementType };

export interface Field {
  /** As in the schema (PascalCase). */
  readonly name: string;
  readonly type: FieldType;
  /** As in the schema, e.g. "[]ListOffsetsTopic". */
  readonly typeText: string;
  /** The message versions in which the field is on the wire (before intersecting with its parent's). */
  readonly versions: Versions;
  readonly nullableVersions: Versions;
  readonly taggedVersions: Versions;
  readonly tag: number | undefined;
  /** The schema's default, as written there ('' when unset). */
  readonly defaultText: string;
  readonly about: string;
  /** An inline struct definition (for a struct or struct-array type). */
  readonly fields: readonly Field[] | undefined;
}

export interface Struct {
  readonly name: string;
  readonly fields: readonly Field[];
}

export interface Message {
  /** As in the schema, e.g. "ListOffsetsRequest". */
  readonly name: string;
  readonly kind: 'request' | 'response' | 'data';
  readonly apiKey: number | undefined;
  readonly listeners: readonly string[];
  /** The versions generated. */
  readonly versions: Versions;
  readonly flexibleVersions: Versions;
  readonly fields: readonly Field[];
  readonly commonStructs: readonly Struct[];
  /** Where the versions came from, and what was left out, for the generated header. */
  readonly provenance: readonly string[];
  /** Which release defines which of the versions generated. */
  readonly sources: readonly { readonly release: string; readonly versions: Versions }[];
}

// ---------- reading one release ----------

interface RawField {
  readonly name: string;
  readonly type: string;
  readonly versions?: string;
  readonly nullableVersions?: string;
  readonly taggedVersions?: string;
  readonly flexibleVersions?: string;
  readonly tag?: number;
  readonly default?: string | number | boolean;
  readonly about?: string;
  readonly fields?: readonly RawField[];
}

interface RawMessage {
  readonly apiKey?: number;
  readonly type: string;
  readonly name: string;
  readonly validVersions: string;
  readonly flexibleVersions?: string;
  readonly latestVersionUnstable?: boolean;
  readonly listeners?: readonly string[];
  readonly fields?: readonly RawField[];
  readonly commonStructs?: readonly { readonly name: string; readonly versions: string; readonly fields: readonly RawField[] }[];
}

/** One release's view of a message: the same model as the merged one, with its own versions. */
interface View {
  readonly raw: RawMessage;
  readonly valid: Versions;
  readonly flexible: Versions;
  readonly fields: readonly Field[];
  readonly commonStructs: readonly Struct[];
}

export interface Release {
  /** e.g. "4.4.0" */
  readonly version: string;
  /** By schema file name, e.g. "ListOffsetsRequest.json". */
  readonly schemas: ReadonlyMap<string, RawMessage>;
}

/** Kafka reads its schemas with Jackson's ALLOW_COMMENTS: `//` and `/* *\/` outside strings. */
export function stripJsonComments(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      out += text.slice(start, i + 1);
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 1;
    } else {
      out += c;
    }
  }
  return out;
}

export function readRelease(jarPath: string): Release {
  const version = /kafka-clients-(.+)\.jar$/.exec(basename(jarPath))?.[1];
  if (version === undefined) throw new Error(`${jarPath}: expected a kafka-clients-<version>.jar`);
  const entries = readJarEntries(jarPath, (name) => /^common\/message\/[^/]+\.json$/.test(name));
  if (entries.size === 0) throw new Error(`${jarPath} holds no common/message/*.json schemas`);
  const schemas = new Map<string, RawMessage>();
  for (const [name, bytes] of entries) {
    try {
      schemas.set(basename(name), JSON.parse(stripJsonComments(bytes.toString('utf8'))) as RawMessage);
    } catch (error) {
      throw new Error(`${jarPath}: ${name} is not valid JSON (after removing comments): ${(error as Error).message}`);
    }
  }
  return { version, schemas };
}

function parseType(text: string, what: string): FieldType {
  const element = text.startsWith('[]') ? text.slice(2) : text;
  let parsed: ElementType;
  if ((primitiveTypes as readonly string[]).includes(element)) parsed = { kind: 'primitive', name: element as PrimitiveType };
  else if (/^[A-Z][A-Za-z0-9]*$/.test(element)) parsed = { kind: 'struct', name: element };
  else throw new Error(`${what}: unsupported type "${text}"`);
  if (!text.startsWith('[]')) return parsed;
  if (parsed.kind === 'primitive' && parsed.name === 'records') throw new Error(`${what}: arrays of records are not supported`);
  return { kind: 'array', element: parsed };
}

function viewField(raw: RawField, within: Versions, path: string): Field {
  const what = `${path}.${raw.name}`;
  if (raw.flexibleVersions !== undefined) {
    throw new Error(`${what}: a field-level flexibleVersions override is not supported (Kafka uses it only in the request header)`);
  }
  const tagged = raw.taggedVersions === undefined ? Versions.none : Versions.parse(raw.taggedVersions, within, what);
  const versionsText = raw.versions ?? raw.taggedVersions;
  if (versionsText === undefined) throw new Error(`${what}: no versions`);
  if ((raw.tag === undefined) !== (raw.taggedVersions === undefined)) throw new Error(`${what}: tag and taggedVersions go together`);
  const type = parseType(raw.type, what);
  if (raw.fields !== undefined && type.kind === 'primitive') throw new Error(`${what}: a ${raw.type} field cannot have fields`);
  return {
    name: raw.name,
    type,
    typeText: raw.type,
    versions: Versions.parse(versionsText, within, what),
    nullableVersions: raw.nullableVersions === undefined ? Versions.none : Versions.parse(raw.nullableVersions, within, what),
    taggedVersions: tagged,
    tag: raw.tag,
    defaultText: raw.default === undefined ? '' : String(raw.default),
    about: raw.about ?? '',
    fields: raw.fields?.map((f) => viewField(f, within, `${path}.${raw.name}`)),
  };
}

function view(raw: RawMessage, release: string): View {
  const what = `${release} ${raw.name}`;
  const valid = Versions.parse(raw.validVersions, Versions.range(0, 0x7fff), what);
  return {
    raw,
    valid,
    // A removed API keeps a stub: validVersions "none" and nothing else (ControlledShutdown in 4.0).
    flexible: Versions.parse(raw.flexibleVersions ?? 'none', valid, `${what} flexibleVersions`),
    fields: (raw.fields ?? []).map((f) => viewField(f, valid, what)),
    commonStructs: (raw.commonStructs ?? []).map((s) => ({
      name: s.name,
      fields: s.fields.map((f) => viewField(f, valid, `${what}.${s.name}`)),
    })),
  };
}

// ---------- merging two releases ----------

export interface MergeInput {
  readonly newest: Release;
  readonly baseline: Release;
}

/**
 * Every message of both releases, merged: requests and responses matched by API key (Kafka renames
 * an API now and then: ListClientMetricsResources became ListConfigResources), data schemas by name.
 */
export function mergeReleases({ newest, baseline }: MergeInput): Message[] {
  const keyOf = (raw: RawMessage): string =>
    raw.type === 'request' || raw.type === 'response' ? `${raw.type}:${raw.apiKey}` : `${raw.type}:${raw.name}`;
  const byKey = (release: Release) => new Map([...release.schemas.values()].map((raw) => [keyOf(raw), raw]));
  const newestByKey = byKey(newest);
  const baselineByKey = byKey(baseline);
  // latestVersionUnstable is declared on the request; its response version is just as unfinished.
  const unstable = (schemas: Map<string, RawMessage>, raw: RawMessage | undefined): Versions => {
    if (raw === undefined) return Versions.none;
    const request = raw.type === 'response' ? schemas.get(`request:${raw.apiKey}`) : raw;
    if (!request?.latestVersionUnstable) return Versions.none;
    return Versions.of([view(request, '').valid.highest]);
  };
  const messages: Message[] = [];
  for (const key of new Set([...newestByKey.keys(), ...baselineByKey.keys()])) {
    const n = newestByKey.get(key);
    const b = baselineByKey.get(key);
    const kind = (n ?? b)!.type;
    if (kind !== 'request' && kind !== 'response' && kind !== 'data') continue;
    const message = mergeMessage(
      n && { release: newest.version, view: view(n, newest.version), unstable: unstable(newestByKey, n) },
      b && { release: baseline.version, view: view(b, baseline.version), unstable: unstable(baselineByKey, b) },
    );
    if (message) messages.push(message);
  }
  return messages.sort((x, y) => (x.apiKey ?? 1000) - (y.apiKey ?? 1000) || x.name.localeCompare(y.name));
}

interface Side {
  readonly release: string;
  readonly view: View;
  readonly unstable: Versions;
}

function mergeMessage(newest: Side | undefined, baseline: Side | undefined): Message | undefined {
  const main = (newest ?? baseline)!;
  const name = main.view.raw.name;
  const newestDefines = newest ? newest.view.valid : Versions.none;
  const baselineDefines = baseline ? baseline.view.valid.subtract(newestDefines) : Versions.none;
  const fromNewest = newest ? newestDefines.subtract(newest.unstable) : Versions.none;
  const fromBaseline = baseline ? baselineDefines.subtract(baseline.unstable) : Versions.none;
  const versions = fromNewest.union(fromBaseline);
  const provenance: string[] = [];
  const versionsOf = (set: Versions) => `${set.list.length === 1 ? 'version' : 'versions'} ${set.describe()}`;
  if (!fromNewest.empty) provenance.push(`${versionsOf(fromNewest)} from Apache Kafka ${newest!.release}`);
  if (!fromBaseline.empty) provenance.push(`${versionsOf(fromBaseline)} from Apache Kafka ${baseline!.release}`);
  for (const side of [newest, baseline]) {
    if (side && !side.unstable.empty && (side === newest ? newestDefines : baselineDefines).contains(side.unstable)) {
      provenance.push(`version ${side.unstable.describe()} is not generated: ${side.release} marks it latestVersionUnstable`);
    }
  }
  if (versions.empty) return undefined;
  if (versions.runs().length !== 1) throw new Error(`${name}: the merged versions ${versions.describe()} have a gap`);

  const sources = {
    newest: newest && { view: newest.view, defines: fromNewest },
    baseline: baseline && { view: baseline.view, defines: fromBaseline },
  };
  const flexibleVersions = (newest ? newest.view.flexible.intersect(fromNewest) : Versions.none).union(
    baseline ? baseline.view.flexible.intersect(fromBaseline) : Versions.none,
  );
  if (!flexibleVersions.empty && !flexibleVersions.equals(Versions.range(flexibleVersions.lowest, versions.highest))) {
    throw new Error(`${name}: flexible versions ${flexibleVersions.describe()} are not a suffix of ${versions.describe()}`);
  }
  const fields = mergeFields(sources.newest?.view.fields, sources.baseline?.view.fields, sources, name);
  const commonNames = new Set([...(newest?.view.commonStructs ?? []), ...(baseline?.view.commonStructs ?? [])].map((s) => s.name));
  const commonStructs = [...commonNames].map((structName) => ({
    name: structName,
    fields: mergeFields(
      newest?.view.commonStructs.find((s) => s.name === structName)?.fields,
      baseline?.view.commonStructs.find((s) => s.name === structName)?.fields,
      sources,
      `${name}.${structName}`,
    ),
  }));
  const message: Message = {
    name,
    kind: main.view.raw.type as Message['kind'],
    apiKey: main.view.raw.apiKey,
    listeners: [...new Set([...(newest?.view.raw.listeners ?? []), ...(baseline?.view.raw.listeners ?? [])])],
    versions,
    flexibleVersions,
    fields,
    commonStructs,
    provenance,
    sources: [
      ...(fromNewest.empty ? [] : [{ release: newest!.release, versions: fromNewest }]),
      ...(fromBaseline.empty ? [] : [{ release: baseline!.release, versions: fromBaseline }]),
    ],
  };
  for (const v of versions.list) {
    const source = fromNewest.has(v) ? newest!.view : baseline!.view;
    const merged = wireLayout(message.fields, message.commonStructs, v, Versions.of([v]));
    const own = wireLayout(source.fields, source.commonStructs, v, Versions.of([v]));
    if (merged !== own) throw new Error(`${name} v${v}: the merged layout\n  ${merged}\ndiffers from the schema's own\n  ${own}`);
  }
  return message;
}

interface Sources {
  readonly newest: { readonly view: View; readonly defines: Versions } | undefined;
  readonly baseline: { readonly view: View; readonly defines: Versions } | undefined;
}

function mergeFields(
  newest: readonly Field[] | undefined,
  baseline: readonly Field[] | undefined,
  sources: Sources,
  path: string,
): Field[] {
  const newestDefines = sources.newest?.defines ?? Versions.none;
  const baselineDefines = sources.baseline?.defines ?? Versions.none;
  const merged: Field[] = [];
  for (const n of newest ?? []) {
    const b = baseline?.find((f) => f.name === n.name);
    merged.push(mergeField(n, b, newestDefines, baselineDefines, sources, path));
  }
  (baseline ?? []).forEach((b, index) => {
    if (merged.some((f) => f.name === b.name)) return;
    // After the nearest baseline predecessor that is already placed; first if there is none.
    let at = 0;
    for (let i = index - 1; i >= 0; i--) {
      const placed = merged.findIndex((f) => f.name === baseline![i]!.name);
      if (placed >= 0) {
        at = placed + 1;
        break;
      }
    }
    merged.splice(at, 0, mergeField(undefined, b, newestDefines, baselineDefines, sources, path));
  });
  return merged.filter((f) => !f.versions.empty);
}

function mergeField(
  n: Field | undefined,
  b: Field | undefined,
  newestDefines: Versions,
  baselineDefines: Versions,
  sources: Sources,
  path: string,
): Field {
  const what = `${path}.${(n ?? b)!.name}`;
  const both =
    n !== undefined && b !== undefined && !n.versions.intersect(newestDefines).empty && !b.versions.intersect(baselineDefines).empty;
  if (both) {
    if (n.typeText !== b.typeText) throw new Error(`${what}: type ${n.typeText} in the newest release, ${b.typeText} in the baseline`);
    if (n.defaultText !== b.defaultText)
      throw new Error(`${what}: default "${n.defaultText}" in the newest release, "${b.defaultText}" in the baseline`);
    if (!n.taggedVersions.empty && !b.taggedVersions.empty && n.tag !== b.tag)
      throw new Error(`${what}: tag ${n.tag} in the newest release, ${b.tag} in the baseline`);
  }
  const pick = (get: (f: Field) => Versions): Versions =>
    (n ? get(n).intersect(newestDefines) : Versions.none).union(b ? get(b).intersect(baselineDefines) : Versions.none);
  const main = n && !n.versions.intersect(newestDefines).empty ? n : (b ?? n)!;
  const fields = n?.fields !== undefined || b?.fields !== undefined ? mergeFields(n?.fields, b?.fields, sources, what) : undefined;
  return {
    name: main.name,
    type: main.type,
    typeText: main.typeText,
    versions: pick((f) => f.versions),
    nullableVersions: pick((f) => f.nullableVersions),
    taggedVersions: pick((f) => f.taggedVersions),
    tag: n?.tag ?? b?.tag,
    defaultText: main.defaultText,
    about: n?.about || b?.about || '',
    fields,
  };
}

/** What version `v` puts on the wire, as text: fields in order with their type, nullability and tag, structs expanded. */
function wireLayout(fields: readonly Field[], common: readonly Struct[], v: number, parent: Versions): string {
  const present = fields.filter((f) => f.versions.intersect(parent).has(v));
  return present
    .map((f) => {
      const flags = `${f.nullableVersions.has(v) ? '?' : ''}${f.taggedVersions.has(v) ? `#${f.tag}` : ''}`;
      const element = f.type.kind === 'array' ? f.type.element : f.type;
      if (element.kind !== 'struct') return `${f.name}:${f.typeText}${flags}`;
      const inner = f.fields ?? common.find((s) => s.name === element.name)?.fields;
      if (inner === undefined) throw new Error(`field ${f.name}: struct ${element.name} is defined nowhere`);
      return `${f.name}:${f.typeText}${flags}{${wireLayout(inner, common, v, f.versions)}}`;
    })
    .join(' ');
}
