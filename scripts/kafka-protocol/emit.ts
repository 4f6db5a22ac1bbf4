/**
 * TypeScript for merged message schemas (schema.ts): one module per API with its interfaces, read
 * and write functions and its MessagePair, plus a JSON descriptor of the same structs for the tests.
 *
 * Every struct becomes a declaration with a context: the versions in which it is read or written.
 * Each field's versions are cut to that context and turned into the shortest `version` test over it
 * (`version >= 4`, `version === 0`), so the code reads like a hand-written codec.
 */
import type { ErrorItems, ErrorResponseSpec, ErrorValue } from './error-responses.js';
import { Versions, type Field, type Message, type PrimitiveType } from './schema.js';

// ---------- declarations ----------

interface Decl {
  readonly tsName: string;
  readonly schemaName: string;
  /** The versions in which the struct is read or written. */
  context: Versions;
  readonly flexible: Versions;
  readonly fields: DeclField[];
}

interface DeclField {
  readonly field: Field;
  readonly camel: string;
  readonly snake: string;
  /** The name of the local variable holding it (camel, unless that is taken). */
  readonly local: string;
  presence: Versions;
  nullable: Versions;
  tagged: Versions;
  /** The struct declaration of a struct or struct-array field. */
  struct: Decl | undefined;
}

/** A message as one side of a generated file: a request, a response, or a data schema. */
export interface Side {
  readonly message: Message;
  readonly decl: Decl;
}

const jsReserved = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in ' +
    'instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package ' +
    'private protected public await arguments eval undefined'
  ).split(' '),
);
/** Names the generated functions use for their own parameters. */
const generatedNames = new Set(['r', 'w', 'version', 'input', 'tag', 'item']);

const camelCase = (name: string): string => name[0]!.toLowerCase() + name.slice(1);
export const snakeCase = (name: string): string =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
export const kebabCase = (name: string): string => snakeCase(name).replaceAll('_', '-');

interface Occurrence {
  readonly side: string;
  readonly schemaName: string;
  readonly fields: readonly Field[];
  context: Versions;
  depth: number;
}

/**
 * The struct declarations of a file. A struct name used by more than one side (a request and its
 * response) is one declaration when the same code serves both; otherwise each side's gets the
 * side's message name in front (AlterClientQuotasRequestEntryData).
 */
export function declare(messages: readonly Message[], reservedNames: readonly string[]): { sides: Side[]; decls: Decl[] } {
  const occurrences = new Map<string, Occurrence>(); // by side + struct name
  for (const message of messages) {
    const walk = (schemaName: string, fields: readonly Field[], context: Versions, depth: number): void => {
      const key = `${message.name}\0${schemaName}`;
      const seen = occurrences.get(key);
      if (seen) {
        seen.context = seen.context.union(context);
        seen.depth = Math.max(seen.depth, depth);
      } else {
        occurrences.set(key, { side: message.name, schemaName, fields, context, depth });
      }
      for (const field of fields) {
        const element = field.type.kind === 'array' ? field.type.element : field.type;
        if (element.kind !== 'struct') continue;
        const inner = field.fields ?? message.commonStructs.find((s) => s.name === element.name)?.fields;
        if (inner === undefined) throw new Error(`${message.name}: struct ${element.name} is defined nowhere`);
        const innerContext = context.intersect(field.versions);
        if (innerContext.empty) throw new Error(`${message.name}: field ${field.name} is never present inside its parent`);
        walk(element.name, inner, innerContext, depth + 1);
      }
    };
    walk(message.name, message.fields, message.versions, 0);
  }

  const flexibleOf = new Map(messages.map((m) => [m.name, m.flexibleVersions]));
  const resolved = new Map<string, Decl>(); // by side + struct name
  const decls: Decl[] = [];
  const byName = new Map<string, Occurrence[]>();
  for (const occurrence of occurrences.values())
    byName.set(occurrence.schemaName, [...(byName.get(occurrence.schemaName) ?? []), occurrence]);
  const maxDepth = (group: Occurrence[]) => Math.max(...group.map((o) => o.depth));
  // Deepest first, so a parent compares its children by their resolved declarations.
  for (const group of [...byName.values()].sort((a, b) => maxDepth(b) - maxDepth(a))) {
    const shared = group.length > 1 ? share(group, flexibleOf, resolved) : undefined;
    if (shared || group.length === 1) {
      const decl = shared ?? build(group[0]!, group[0]!.schemaName, flexibleOf.get(group[0]!.side)!, resolved);
      decls.push(decl);
      for (const o of group) resolved.set(`${o.side}\0${o.schemaName}`, decl);
    } else {
      for (const o of group) {
        const decl = build(o, `${o.side}${o.schemaName}`, flexibleOf.get(o.side)!, resolved);
        decls.push(decl);
        resolved.set(`${o.side}\0${o.schemaName}`, decl);
      }
    }
  }
  const names = new Set<string>(reservedNames);
  for (const decl of decls) {
    for (const name of [decl.tsName, ...['read', 'write', 'default', 'isDefault'].map((verb) => `${verb}${decl.tsName}`)]) {
      if (names.has(name)) throw new Error(`${name} would be declared twice in one file (struct ${decl.schemaName})`);
      names.add(name);
    }
  }
  const sides = messages.map((message) => ({ message, decl: resolved.get(`${message.name}\0${message.name}`)! }));
  return { sides, decls };
}

function build(o: Occurrence, tsName: string, flexible: Versions, resolved: Map<string, Decl>): Decl {
  const locals = new Set<string>();
  const fields = o.fields.map((field): DeclField => {
    const camel = camelCase(field.name);
    const local = jsReserved.has(camel) || generatedNames.has(camel) ? `${camel}Value` : camel;
    if (locals.has(local)) throw new Error(`${o.side}.${o.schemaName}: two fields are named ${camel}`);
    locals.add(local);
    const element = field.type.kind === 'array' ? field.type.element : field.type;
    const presence = field.versions.intersect(o.context);
    return {
      field,
      camel,
      snake: snakeCase(field.name),
      local,
      presence,
      nullable: field.nullableVersions.intersect(presence),
      tagged: field.taggedVersions.intersect(presence),
      struct: element.kind === 'struct' ? resolved.get(`${o.side}\0${element.name}`) : undefined,
    };
  });
  return { tsName, schemaName: o.schemaName, context: o.context, flexible: flexible.intersect(o.context), fields };
}

/** One declaration for every occurrence, when its code would serve each of them unchanged. */
function share(group: Occurrence[], flexibleOf: Map<string, Versions>, resolved: Map<string, Decl>): Decl | undefined {
  const built = group.map((o) => build(o, o.schemaName, flexibleOf.get(o.side)!, resolved));
  const first = built[0]!;
  for (const decl of built) {
    if (decl.fields.length !== first.fields.length) return undefined;
    for (const [i, f] of decl.fields.entries()) {
      const g = first.fields[i]!;
      if (f.field.name !== g.field.name || f.field.typeText !== g.field.typeText || f.field.defaultText !== g.field.defaultText)
        return undefined;
      if (f.field.tag !== g.field.tag || f.struct !== g.struct) return undefined;
    }
  }
  const context = built.reduce((all, d) => all.union(d.context), Versions.none);
  const flexible = built.reduce((all, d) => all.union(d.flexible), Versions.none);
  if (built.some((d) => !flexible.intersect(d.context).equals(d.flexible))) return undefined;
  const fields = first.fields.map((f, i) => {
    const union = (get: (g: DeclField) => Versions) => built.reduce((all, d) => all.union(get(d.fields[i]!)), Versions.none);
    return { ...f, presence: union((g) => g.presence), nullable: union((g) => g.nullable), tagged: union((g) => g.tagged) };
  });
  // Shared code tests the union of the versions: it must give each occurrence exactly its own.
  for (const d of built) {
    for (const [i, f] of fields.entries()) {
      const own = d.fields[i]!;
      for (const get of [(g: DeclField) => g.presence, (g: DeclField) => g.nullable, (g: DeclField) => g.tagged]) {
        if (!get(f).intersect(d.context).equals(get(own))) return undefined;
      }
    }
  }
  return { tsName: first.tsName, schemaName: first.schemaName, context, flexible, fields };
}

// ---------- small code helpers ----------

/** The shortest test of `version` that holds exactly for the versions of `set` within `context`. */
export function condition(set: Versions, context: Versions): string {
  const within = set.intersect(context);
  if (within.equals(context)) return 'true';
  if (within.empty) return 'false';
  const lowest = context.lowest;
  const highest = context.highest;
  // Runs of consecutive members of the context.
  const runs: [number, number][] = [];
  let previousIn = false;
  for (const v of context.list) {
    const isIn = within.has(v);
    if (isIn && previousIn) runs[runs.length - 1]![1] = v;
    else if (isIn) runs.push([v, v]);
    previousIn = isIn;
  }
  const parts = runs.map(([a, b]) => {
    // The newest version alone reads as the open range the schema wrote ("3+").
    if (a === b) return a === highest && a > lowest ? `version >= ${a}` : `version === ${a}`;
    if (a > lowest && b < highest) return `version >= ${a} && version <= ${b}`;
    return a > lowest ? `version >= ${a}` : `version <= ${b}`;
  });
  return parts.length === 1 ? parts[0]! : parts.map((p) => (p.includes('&&') ? `(${p})` : p)).join(' || ');
}

const quote = (text: string): string => `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

const numericTypes: ReadonlySet<PrimitiveType> = new Set(['int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float64']);

const intRanges: Partial<Record<PrimitiveType, [number, number]>> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

/** A field's default as a JSON value: what the decoded form holds when the version does not carry the field. */
export type DefaultValue = number | boolean | string | null | readonly never[] | { readonly struct: string };

export interface Notes {
  /** Things said once in the file header (e.g. a clamped int64 default). */
  readonly header: string[];
}

export function defaultValue(f: DeclField, notes: Notes): DefaultValue {
  const { field } = f;
  const text = field.defaultText;
  const what = `field ${field.name}`;
  const nullableEverywhere = !f.presence.empty && f.nullable.equals(f.presence);
  if (text === 'null') {
    if (!nullableEverywhere && field.type.kind !== 'primitive')
      throw new Error(`${what}: default null, but it is not nullable in every version`);
    return null;
  }
  if (field.type.kind === 'array') {
    if (text !== '') throw new Error(`${what}: an array's default must be empty or null, got "${text}"`);
    return [];
  }
  if (field.type.kind === 'struct') {
    if (text !== '') throw new Error(`${what}: a struct's default must be empty or null, got "${text}"`);
    return { struct: f.struct!.tsName };
  }
  const type = field.type.name;
  if (type === 'bool') {
    if (text === '' || text.toLowerCase() === 'false') return false;
    if (text.toLowerCase() === 'true') return true;
    throw new Error(`${what}: invalid bool default "${text}"`);
  }
  if (type === 'float64') {
    const value = text === '' ? 0 : Number(text);
    if (!Number.isFinite(value)) throw new Error(`${what}: invalid float64 default "${text}"`);
    return value;
  }
  if (numericTypes.has(type)) {
    if (text === '') return 0;
    const negative = text.startsWith('-');
    const digits = negative ? text.slice(1) : text;
    const big = digits.startsWith('0x') ? BigInt(digits) : /^\d+$/.test(digits) ? BigInt(digits) : undefined;
    if (big === undefined) throw new Error(`${what}: invalid ${type} default "${text}"`);
    const value = negative ? -big : big;
    const range = intRanges[type];
    if (range && (value < BigInt(range[0]) || value > BigInt(range[1])))
      throw new Error(`${what}: default ${text} is out of ${type} range`);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      const clamped = value > 0n ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
      notes.header.push(`${field.name}'s default ${text} is beyond ±2^53 and stands as ${clamped} (a JS number holds int64 here).`);
      return clamped;
    }
    return Number(value);
  }
  if (type === 'string') return text;
  if (type === 'uuid') {
    if (text === '') return '00000000-0000-0000-0000-000000000000';
    const bytes = Buffer.from(text, 'base64url');
    if (bytes.length !== 16) throw new Error(`${what}: invalid uuid default "${text}"`);
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  if (type === 'bytes') {
    if (text !== '') throw new Error(`${what}: a bytes default must be empty or null, got "${text}"`);
    return '';
  }
  // records: Kafka's default is null; where the field is not always nullable, empty bytes.
  return nullableEverywhere ? null : '';
}

// ---------- one file ----------

export interface FileInput {
  /** e.g. "ListOffsets" */
  readonly name: string;
  readonly kind: 'pair' | 'data';
  /** request then response, or the data schemas */
  readonly messages: readonly Message[];
  readonly generatedFrom: string;
  /** A pair's answer to a request refused as a whole (error-responses.ts); none: the pair has no errorResponse. */
  readonly errorResponse?: ErrorResponseSpec;
}

export interface Emitted {
  readonly source: string;
  readonly descriptor: FileDescriptor;
}

/** A field as the tests' sample builder sees it. Version sets are written "0-3, 5" ("" for none). */
export interface FieldDescriptor {
  readonly name: string;
  readonly type: PrimitiveType | 'struct';
  readonly array?: true;
  readonly struct?: string;
  readonly versions: string;
  readonly nullable?: string;
  readonly tagged?: string;
  readonly tag?: number;
  readonly default: DefaultValue;
}

export interface FileDescriptor {
  readonly file: string;
  readonly kind: 'pair' | 'data';
  readonly exports: readonly { readonly name: string; readonly struct: string; readonly apiKey?: number; readonly side?: string }[];
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly flexibleFrom: number | null;
  /** Which Kafka release defines which versions (the conformance fixtures encode each with its own release). */
  readonly sources: readonly { readonly release: string; readonly versions: string }[];
  readonly structs: Readonly<Record<string, { readonly context: string; readonly fields: readonly FieldDescriptor[] }>>;
}

export function emitFile(input: FileInput): Emitted {
  const exportNames = input.kind === 'pair' ? [input.name] : input.messages.map((m) => `${m.name}Data`);
  const runtimeNames = [
    'Encodable',
    'MessagePair',
    'MessageData',
    'EMPTY_BYTES',
    'ZERO_UUID',
    'bytesLength',
    'messageData',
    'messagePair',
    'notNull',
    'writeBytes',
  ];
  const { sides, decls } = declare(input.messages, [...exportNames, ...runtimeNames, 'KafkaReader', 'KafkaWriter']);
  const first = input.messages[0]!;
  for (const m of input.messages) {
    if (!m.versions.equals(first.versions) || !m.flexibleVersions.equals(first.flexibleVersions)) {
      throw new Error(
        `${m.name}: versions ${m.versions.describe()} (flexible ${m.flexibleVersions.describe()}) differ from ${first.name}'s`,
      );
    }
  }
  const notes: Notes = { header: [] };
  const defaults = new Map<DeclField, DefaultValue>();
  for (const decl of decls) for (const f of decl.fields) defaults.set(f, defaultValue(f, notes));

  const flexibleFrom = first.flexibleVersions.empty ? undefined : first.flexibleVersions.lowest;
  const ctx = new Context(defaults, first.versions.highest);
  const orderedDecls = preorder(sides);
  ctx.markHelpers(orderedDecls);

  const out: string[] = [];
  out.push(...header(input, sides, ctx, notes, flexibleFrom));
  const used = (name: string) => ctx.runtimeUsed.has(name);
  const body: string[] = [];
  // The exported codec(s) first, then interfaces, then functions.
  if (input.kind === 'pair') {
    const [request, response] = sides;
    const declaration = `export const ${input.name}: MessagePair<${request!.decl.tsName}, ${response!.decl.tsName}> = messagePair({`;
    body.push(
      ...(declaration.length <= 140
        ? [declaration]
        : [`export const ${input.name}: MessagePair<`, `  ${request!.decl.tsName},`, `  ${response!.decl.tsName}`, '> = messagePair({']),
      `  apiKey: ${first.apiKey},`,
      `  name: ${quote(input.name)},`,
      `  minVersion: ${first.versions.lowest},`,
      `  maxVersion: ${first.versions.highest},`,
      `  flexibleFrom: ${flexibleFrom ?? 'undefined'},`,
      `  request: { read: read${request!.decl.tsName}, write: write${request!.decl.tsName} },`,
      `  response: { read: read${response!.decl.tsName}, write: write${response!.decl.tsName} },`,
      ...(input.errorResponse ? ['  errorResponse,'] : []),
      '});',
      '',
    );
    ctx.runtimeUsed.add('MessagePair').add('messagePair');
  } else {
    for (const side of sides) {
      body.push(
        `export const ${side.message.name}Data: MessageData<${side.decl.tsName}> = messageData({`,
        `  name: ${quote(side.message.name)},`,
        `  minVersion: ${side.message.versions.lowest},`,
        `  maxVersion: ${side.message.versions.highest},`,
        `  flexibleFrom: ${flexibleFrom ?? 'undefined'},`,
        `  read: read${side.decl.tsName},`,
        `  write: write${side.decl.tsName},`,
        '});',
        '',
      );
    }
    ctx.runtimeUsed.add('MessageData').add('messageData');
  }
  for (const decl of orderedDecls) body.push(...ctx.emitInterface(decl), '');
  if (input.kind === 'pair' && input.errorResponse) {
    const [request, response] = sides;
    body.push(...ctx.emitErrorResponse(input.name, input.errorResponse, request!.decl, response!.decl), '');
  }
  for (const decl of orderedDecls) {
    body.push(...ctx.emitReader(decl), '');
    body.push(...ctx.emitWriter(decl), '');
    if (ctx.needsDefault.has(decl)) body.push(...ctx.emitDefault(decl), '');
    if (ctx.needsIsDefault.has(decl)) body.push(...ctx.emitIsDefault(decl), '');
  }
  while (body[body.length - 1] === '') body.pop();

  const typeImports = ['Encodable', 'MessageData', 'MessagePair'].filter(used);
  const valueImports = ['EMPTY_BYTES', 'ZERO_UUID', 'bytesLength', 'messageData', 'messagePair', 'notNull', 'writeBytes'].filter(used);
  out.push(`import type { KafkaReader, KafkaWriter } from '../../wire.js';`);
  const runtimeImports = [...valueImports, ...typeImports.map((name) => `type ${name}`)];
  out.push(...wrapList(`import { `, runtimeImports, ` } from '../runtime.js';`));
  out.push('', ...body, '');

  const descriptor: FileDescriptor = {
    file: kebabCase(input.name),
    kind: input.kind,
    exports:
      input.kind === 'pair'
        ? sides.map((s) => ({ name: input.name, struct: s.decl.tsName, apiKey: s.message.apiKey!, side: s.message.kind }))
        : sides.map((s) => ({ name: `${s.message.name}Data`, struct: s.decl.tsName })),
    minVersion: first.versions.lowest,
    maxVersion: first.versions.highest,
    flexibleFrom: flexibleFrom ?? null,
    sources: first.sources.map((s) => ({ release: s.release, versions: s.versions.describe() })),
    structs: Object.fromEntries(
      orderedDecls.map((decl) => [
        decl.tsName,
        {
          context: decl.context.describe(),
          fields: decl.fields.map((f): FieldDescriptor => {
            const element = f.field.type.kind === 'array' ? f.field.type.element : f.field.type;
            return {
              name: f.camel,
              type: element.kind === 'struct' ? 'struct' : element.name,
              ...(f.field.type.kind === 'array' ? { array: true as const } : {}),
              ...(f.struct ? { struct: f.struct.tsName } : {}),
              versions: f.presence.empty ? '' : f.presence.describe(),
              ...(f.nullable.empty ? {} : { nullable: f.nullable.describe() }),
              ...(f.tagged.empty ? {} : { tagged: f.tagged.describe(), tag: f.field.tag! }),
              default: defaults.get(f)!,
            };
          }),
        },
      ]),
    ),
  };
  return { source: out.join('\n'), descriptor };
}

/** Declarations in the order a reader meets them: each side's top level, then its structs depth-first. */
function preorder(sides: readonly Side[]): Decl[] {
  const order: Decl[] = [];
  const visit = (decl: Decl): void => {
    if (order.includes(decl)) return;
    order.push(decl);
    for (const f of decl.fields) if (f.struct) visit(f.struct);
  };
  for (const side of sides) visit(side.decl);
  return order;
}

/** `open items close` on one line, or one item per line when that is over 140 characters. */
function wrapList(open: string, items: readonly string[], close: string): string[] {
  const oneLine = `${open}${items.join(', ')}${close}`;
  if (oneLine.length <= 140) return [oneLine];
  const indent = /^ */.exec(open)![0];
  return [open.trimEnd(), ...items.map((item) => `${indent}  ${item},`), `${indent}${close.trimStart()}`];
}

/** A function's first line, its parameters one per line when that is over 140 characters. */
function signature(open: string, parameters: readonly string[], close: string): string[] {
  const oneLine = `${open}${parameters.join(', ')}${close}`;
  if (oneLine.length <= 140) return [oneLine];
  return [open, ...parameters.map((p) => `  ${p},`), close];
}

function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

// ---------- the header: provenance and grammar ----------

function header(input: FileInput, sides: readonly Side[], ctx: Context, notes: Notes, flexibleFrom: number | undefined): string[] {
  const first = input.messages[0]!;
  const lines = [
    '/**',
    ` * Generated by scripts/kafka-protocol/generate.ts from ${input.generatedFrom} message schemas; do not edit.`,
    ' *',
  ];
  const title =
    input.kind === 'pair'
      ? `${input.name} (API key ${first.apiKey}): versions ${first.versions.describe()}, ${flexibleFrom === undefined ? 'none flexible' : `flexible from ${flexibleFrom}`}.`
      : `${input.messages.map((m) => m.name).join(' and ')}: versions ${first.versions.describe()}, ${flexibleFrom === undefined ? 'none flexible' : `flexible from ${flexibleFrom}`}.`;
  lines.push(` * ${title}`);
  const provenance = [...new Set(input.messages.flatMap((m) => m.provenance))];
  const from = provenance.join('; ');
  for (const line of wrapText(`${from[0]!.toUpperCase()}${from.slice(1)}.`, 110)) lines.push(` * ${line}`);
  for (const note of [...new Set(notes.header)]) for (const line of wrapText(note, 110)) lines.push(` * ${line}`);
  lines.push(
    ' *',
    ' * Grammar: field: type (the versions that carry it, when not all; nullable; tagged fields with their tag; the default,',
    ' * which a version without the field decodes to and an encoder writes for a field left out).',
  );
  for (const side of sides) {
    lines.push(' *', ` *   ${side.decl.tsName} =>`);
    const walk = (decl: Decl, indent: string): void => {
      for (const f of decl.fields) {
        if (f.presence.empty) continue;
        const notesOf: string[] = [];
        if (!f.presence.equals(decl.context)) notesOf.push(`v${f.presence.describe(ctx.maxVersion)}`);
        if (!f.nullable.empty)
          notesOf.push(f.nullable.equals(f.presence) ? 'nullable' : `nullable v${f.nullable.describe(ctx.maxVersion)}`);
        if (!f.tagged.empty)
          notesOf.push(f.tagged.equals(f.presence) ? `tag ${f.field.tag}` : `tag ${f.field.tag} in v${f.tagged.describe(ctx.maxVersion)}`);
        if (f.field.defaultText !== '') notesOf.push(`default ${f.field.defaultText}`);
        const element = f.field.type.kind === 'array' ? f.field.type.element : f.field.type;
        const typeName = element.kind === 'struct' ? f.struct!.tsName : element.name;
        const type = f.field.type.kind === 'array' ? `[${typeName}]` : typeName;
        lines.push(` * ${indent}${f.snake}: ${type}${notesOf.length ? ` (${notesOf.join(', ')})` : ''}`);
        if (f.struct) walk(f.struct, `${indent}  `);
      }
    };
    walk(side.decl, '    ');
  }
  lines.push(' */');
  return lines;
}

// ---------- code ----------

class Context {
  readonly runtimeUsed = new Set<string>();
  readonly needsDefault = new Set<Decl>();
  readonly needsIsDefault = new Set<Decl>();

  constructor(
    private readonly defaults: Map<DeclField, DefaultValue>,
    readonly maxVersion: number,
  ) {}

  /** Which declarations need defaultX() (decoded default struct) and isDefaultX() (tagged struct left at its default). */
  markHelpers(decls: readonly Decl[]): void {
    const needDefault = (decl: Decl): void => {
      if (this.needsDefault.has(decl)) return;
      this.needsDefault.add(decl);
      for (const f of decl.fields) {
        const value = this.defaults.get(f);
        if (f.struct && f.field.type.kind === 'struct' && value !== null) needDefault(f.struct);
      }
    };
    const needIsDefault = (decl: Decl): void => {
      if (this.needsIsDefault.has(decl)) return;
      this.needsIsDefault.add(decl);
      for (const f of decl.fields) if (f.struct && f.field.type.kind === 'struct' && this.defaults.get(f) !== null) needIsDefault(f.struct);
    };
    for (const decl of decls) {
      for (const f of decl.fields) {
        if (!f.struct || f.field.type.kind !== 'struct' || this.defaults.get(f) === null) continue;
        // A struct field absent from some version, or tagged, starts from (or is compared with) its default.
        if (!f.presence.equals(decl.context) || !f.tagged.empty) needDefault(f.struct);
        if (!f.tagged.empty) needIsDefault(f.struct);
      }
    }
  }

  private typeOf(f: DeclField): string {
    const element = f.field.type.kind === 'array' ? f.field.type.element : f.field.type;
    let base: string;
    if (element.kind === 'struct') base = f.struct!.tsName;
    else if (element.name === 'bool') base = 'boolean';
    else if (numericTypes.has(element.name)) base = 'number';
    else if (element.name === 'string' || element.name === 'uuid') base = 'string';
    else base = 'Buffer';
    const type = f.field.type.kind === 'array' ? `readonly ${base}[]` : base;
    return this.canBeNull(f) ? `${type} | null` : type;
  }

  private canBeNull(f: DeclField): boolean {
    return !f.nullable.empty || this.defaults.get(f) === null;
  }

  /** The decoded default, as an expression. */
  private decodedDefault(f: DeclField): string {
    const value = this.defaults.get(f)!;
    return this.literal(f, value, 'decoded');
  }

  /** The default an encoder writes for a field left out. */
  private encodedDefault(f: DeclField): string {
    return this.literal(f, this.defaults.get(f)!, 'encoded');
  }

  private literal(f: DeclField, value: DefaultValue, form: 'decoded' | 'encoded'): string {
    if (value === null) return 'null';
    if (Array.isArray(value)) return '[]';
    if (typeof value === 'object') return form === 'decoded' ? `default${(value as { struct: string }).struct}()` : '{}';
    if (typeof value === 'boolean' || typeof value === 'number') return String(value);
    const element = f.field.type.kind === 'array' ? f.field.type.element : f.field.type;
    if (element.kind === 'primitive' && (element.name === 'bytes' || element.name === 'records')) {
      this.runtimeUsed.add('EMPTY_BYTES');
      return 'EMPTY_BYTES';
    }
    if (element.kind === 'primitive' && element.name === 'uuid' && value === '00000000-0000-0000-0000-000000000000') {
      this.runtimeUsed.add('ZERO_UUID');
      return 'ZERO_UUID';
    }
    return quote(value as string);
  }

  emitInterface(decl: Decl): string[] {
    const lines = [`export interface ${decl.tsName} {`];
    decl.fields.forEach((f, i) => {
      if (i > 0) lines.push('');
      const about = f.field.about.trim().replaceAll('*/', '*\\/');
      if (about) {
        const wrapped = wrapText(about, 110);
        if (wrapped.length === 1) lines.push(`  /** ${wrapped[0]} */`);
        else lines.push('  /**', ...wrapped.map((l) => `   * ${l}`), '   */');
      }
      lines.push(`  readonly ${f.camel}: ${this.typeOf(f)};`);
    });
    lines.push('}');
    return lines;
  }

  // ----- reading -----

  private readValue(f: DeclField, nullable: boolean, tagged: boolean, reader = 'r'): string {
    const what = quote(f.snake);
    const element = f.field.type.kind === 'array' ? f.field.type.element : f.field.type;
    const one = (nullableOne: boolean): string => {
      if (element.kind === 'struct') {
        const read = `read${f.struct!.tsName}(${reader}, version)`;
        if (!nullableOne || f.field.type.kind === 'array') return read;
        return tagged ? `${reader}.uvarint(${what}) === 0 ? null : ${read}` : `${reader}.int8(${what}) < 0 ? null : ${read}`;
      }
      switch (element.name) {
        case 'bool':
          return `${reader}.bool(${what})`;
        case 'uuid':
          return `${reader}.uuidString(${what})`;
        case 'string':
          return nullableOne ? `${reader}.nullableString(${what})` : `${reader}.string(${what})`;
        case 'bytes':
        case 'records':
          return nullableOne ? `${reader}.nullableBytes(${what})` : `${reader}.bytesField(${what})`;
        default:
          return `${reader}.${element.name}(${what})`;
      }
    };
    if (f.field.type.kind !== 'array') return one(nullable);
    const item = one(false);
    return `${reader}.${nullable ? 'nullableArray' : 'array'}(${what}, (${reader}) => ${item})`;
  }

  /**
   * The untagged reads of a field: [versions, expression] pairs, the nullable form where the version
   * allows null, the plain form (which refuses null) elsewhere.
   */
  private reads(f: DeclField, untagged: Versions): [Versions, string][] {
    const nullable = f.nullable.intersect(untagged);
    const plain = untagged.subtract(nullable);
    const reads: [Versions, string][] = [];
    if (!nullable.empty) reads.push([nullable, this.readValue(f, true, false)]);
    if (!plain.empty) reads.push([plain, this.readValue(f, false, false)]);
    return reads;
  }

  emitReader(decl: Decl): string[] {
    const lines = signature(`function read${decl.tsName}(`, ['r: KafkaReader', 'version: number'], `): ${decl.tsName} {`);
    const tagged: DeclField[] = [];
    for (const f of decl.fields) {
      const untagged = f.presence.subtract(f.tagged);
      if (!f.tagged.empty) tagged.push(f);
      const reads = this.reads(f, untagged);
      const covered = untagged.equals(decl.context);
      if (f.tagged.empty && reads.length === 1 && covered) {
        lines.push(`  const ${f.local} = ${reads[0]![1]};`);
        continue;
      }
      const oneLine =
        reads.length === 1 &&
        `  const ${f.local} = ${condition(reads[0]![0], decl.context)} ? ${reads[0]![1]} : ${this.decodedDefault(f)};`;
      if (f.tagged.empty && oneLine && oneLine.length <= 140) {
        lines.push(oneLine);
        continue;
      }
      // Several forms, or too long for one line: a variable set by version, as Kafka's generated reader does.
      const annotation = `: ${this.typeOf(f)}`;
      if (reads.length === 0) {
        lines.push(`  let ${f.local}${annotation} = ${this.decodedDefault(f)};`);
        continue;
      }
      lines.push(`  let ${f.local}${annotation};`);
      let remaining = decl.context;
      reads.forEach(([versions, read], i) => {
        const last = covered && i === reads.length - 1;
        const when = condition(versions, remaining);
        lines.push(`  ${i === 0 ? '' : 'else '}${last ? '' : `if (${when}) `}${f.local} = ${read};`);
        remaining = remaining.subtract(versions);
      });
      if (!covered) lines.push(`  else ${f.local} = ${this.decodedDefault(f)};`);
    }
    if (!decl.flexible.empty) {
      const what = quote(`${decl.tsName} tagged fields`);
      if (tagged.length === 0) {
        lines.push(`  r.taggedFields(${what});`);
      } else {
        lines.push(`  r.readTaggedFields(${what}, (tag) => {`);
        const sorted = [...tagged].sort((a, b) => a.field.tag! - b.field.tag!);
        sorted.forEach((f, i) => {
          const when = condition(f.tagged, decl.context.intersect(decl.flexible));
          const test = `tag === ${f.field.tag}${when === 'true' ? '' : ` && ${when.includes('||') ? `(${when})` : when}`}`;
          const nullable = !f.nullable.intersect(f.tagged).empty;
          lines.push(`    ${i === 0 ? 'if' : 'else if'} (${test}) ${f.local} = ${this.readValue(f, nullable, true)};`);
        });
        lines.push('    else return false;', '    return true;', '  });');
      }
    }
    lines.push(
      ...wrapList(
        '  return { ',
        decl.fields.map((f) => (f.local === f.camel ? f.camel : `${f.camel}: ${f.local}`)),
        ' };',
      ),
    );
    lines.push('}');
    return lines;
  }

  // ----- writing -----

  /** The statement writing one value `v` of the field; `nullable` where the version allows null. */
  private writeValue(f: DeclField, v: string, nullable: boolean, tagged: boolean, writer = 'w'): string {
    const what = quote(f.snake);
    const element = f.field.type.kind === 'array' ? f.field.type.element : f.field.type;
    const nonNull = (value: string): string => {
      if (nullable || !this.canBeNull(f)) return value;
      this.runtimeUsed.add('notNull');
      return `notNull(${value}, ${what})`;
    };
    const item = (value: string): string => {
      if (element.kind === 'struct') return `write${f.struct!.tsName}(${writer}, version, ${value})`;
      switch (element.name) {
        case 'bool':
          return `${writer}.bool(${value})`;
        case 'uuid':
          return `${writer}.uuid(${value})`;
        case 'string':
          return `${writer}.string(${value})`;
        case 'bytes':
        case 'records':
          this.runtimeUsed.add('writeBytes');
          return `writeBytes(${writer}, ${value})`;
        default:
          return `${writer}.${element.name}(${value})`;
      }
    };
    if (f.field.type.kind === 'array') {
      return `${writer}.${nullable ? 'nullableArray' : 'array'}(${nonNull(v)}, (${writer}, item) => ${item('item')});`;
    }
    if (element.kind === 'struct') {
      if (!nullable) return `${item(nonNull(v))};`;
      // A nullable struct is a presence marker, then the struct: int8 (-1 null, 1 present), or a uvarint (0, 1) when tagged.
      const [nullMarker, presentMarker] = tagged ? ['uvarint(0)', 'uvarint(1)'] : ['int8(-1)', 'int8(1)'];
      return `if (${v} === null) ${writer}.${nullMarker}; else { ${writer}.${presentMarker}; ${item(v)}; }`;
    }
    if (element.name === 'string') return nullable ? `${writer}.nullableString(${v});` : `${writer}.string(${nonNull(v)});`;
    if (element.name === 'bytes' || element.name === 'records') return `${item(nullable ? v : nonNull(v))};`;
    return `${item(v)};`;
  }

  /** Statements writing an untagged field over `versions`. */
  private writeOver(f: DeclField, versions: Versions): string[] {
    const nullable = f.nullable.intersect(versions);
    if (nullable.empty || nullable.equals(versions)) return [this.writeValue(f, f.local, !nullable.empty, false)];
    return [
      `if (${condition(nullable, versions)}) ${this.writeValue(f, f.local, true, false)}`,
      `else ${this.writeValue(f, f.local, false, false)}`,
    ];
  }

  /** Whether a tagged value `v` (its default applied) differs from the default, as Kafka decides it. */
  private differsFromDefault(f: DeclField, v: string): string {
    const value = this.defaults.get(f)!;
    const canBeNull = this.canBeNull(f);
    const element = f.field.type.kind === 'array' ? f.field.type.element : f.field.type;
    if (value === null) return `${v} !== null`;
    const orNull = (test: string) => (canBeNull ? `(${v} === null || ${test})` : test);
    if (f.field.type.kind === 'array') return orNull(`${v}.length > 0`);
    if (element.kind === 'struct') return orNull(`!isDefault${f.struct!.tsName}(${v})`);
    if (element.name === 'bytes' || element.name === 'records') {
      this.runtimeUsed.add('bytesLength');
      return orNull(`bytesLength(${v}) > 0`);
    }
    if (value === false) return v;
    if (value === true) return `!${v}`;
    return `${v} !== ${this.literal(f, value, 'encoded')}`;
  }

  emitWriter(decl: Decl): string[] {
    const lines = signature(
      `function write${decl.tsName}(`,
      ['w: KafkaWriter', 'version: number', `input: Encodable<${decl.tsName}>`],
      '): void {',
    );
    this.runtimeUsed.add('Encodable');
    const written = decl.fields.filter((f) => !f.presence.empty);
    if (written.length > 0) {
      const bindings = written.map((f) => `${f.local === f.camel ? f.camel : `${f.camel}: ${f.local}`} = ${this.encodedDefault(f)}`);
      lines.push(...wrapList('  const { ', bindings, ' } = input;'));
    }
    const tagged: DeclField[] = [];
    for (const f of written) {
      if (!f.tagged.empty) tagged.push(f);
      const untagged = f.presence.subtract(f.tagged);
      if (untagged.empty) continue;
      const statements = this.writeOver(f, untagged);
      const when = condition(untagged, decl.context);
      if (when === 'true') lines.push(...statements.map((s) => `  ${s}`));
      else if (statements.length === 1 && !statements[0]!.startsWith('if ')) lines.push(`  if (${when}) ${statements[0]}`);
      else lines.push(`  if (${when}) {`, ...statements.map((s) => `    ${s}`), '  }');
    }
    if (!decl.flexible.empty) {
      if (tagged.length === 0) {
        lines.push('  w.taggedFields();');
      } else {
        lines.push('  w.taggedFieldsOf([');
        for (const f of [...tagged].sort((a, b) => a.field.tag! - b.field.tag!)) {
          const when = condition(f.tagged, decl.context.intersect(decl.flexible));
          const test = [when === 'true' ? '' : when.includes('||') ? `(${when})` : when, this.differsFromDefault(f, f.local)]
            .filter(Boolean)
            .join(' && ');
          const nullable = !f.nullable.intersect(f.tagged).empty;
          const write = this.writeValue(f, f.local, nullable, true, 'w').replace(/;$/, '');
          const body = write.startsWith('if ') ? `{ ${write}; }` : write;
          const entry = `    ${test} ? [${f.field.tag}, (w) => ${body}] : undefined,`;
          if (entry.length <= 140) lines.push(entry);
          else lines.push(`    ${test}`, `      ? [${f.field.tag}, (w) => ${body}]`, '      : undefined,');
        }
        lines.push('  ]);');
      }
    }
    lines.push('}');
    return lines;
  }

  // ----- the error response (error-responses.ts) -----

  /**
   * `errorResponse(request, version, errorCode, errorMessage)`: the response in which the top level
   * and every item answered carry the error, the items echoing their request items' keys. Every name
   * the spec uses is checked against the schemas here, so a wrong entry fails the generator.
   */
  emitErrorResponse(apiName: string, spec: ErrorResponseSpec, request: Decl, response: Decl): string[] {
    const what = (path: string) => `${apiName} error response: ${path}`;
    const fieldOf = (decl: Decl, name: string, path: string): DeclField => {
      const f = decl.fields.find((g) => g.field.name === name);
      if (!f || f.presence.empty) throw new Error(what(`${path}: ${decl.schemaName} has no field ${name}`));
      return f;
    };
    const elementOf = (f: DeclField) => (f.field.type.kind === 'array' ? f.field.type.element : f.field.type);
    /** `value` where the field can be null in every version it has; `nullCase` where only in some; never: an error. */
    const nullable = (f: DeclField, value: string, otherwise: string | undefined, path: string): string => {
      if (f.nullable.equals(f.presence)) return value;
      if (otherwise === undefined) throw new Error(what(`${path} cannot be null`));
      if (f.nullable.empty) return otherwise;
      const when = condition(f.nullable, f.presence);
      return `${when.includes('||') ? `(${when})` : when} ? ${value} : ${otherwise}`;
    };
    const setValue = (f: DeclField, value: ErrorValue, path: string): string => {
      const element = elementOf(f);
      if (f.field.type.kind === 'array' || element.kind !== 'primitive') throw new Error(what(`${path} is not a primitive field`));
      if (value === null) {
        if (f.nullable.empty) throw new Error(what(`${path} cannot be null`));
        return nullable(f, 'null', this.literal(f, this.defaults.get(f)!, 'encoded'), path);
      }
      const ok =
        typeof value === 'number'
          ? numericTypes.has(element.name) && Number.isSafeInteger(value)
          : typeof value === 'string'
            ? element.name === 'string'
            : element.name === 'bool';
      if (!ok) throw new Error(what(`${path} is ${element.name}, got ${JSON.stringify(value)}`));
      return typeof value === 'string' ? quote(value) : String(value);
    };
    const taken = new Set(['request', 'version', 'errorCode', 'errorMessage']);
    const itemName = (base: string): string => {
      let name = base[0]!.toLowerCase() + base.slice(1);
      while (taken.has(name) || jsReserved.has(name)) name = `${name}Item`;
      return name;
    };

    /** The properties of one response struct: its error fields, `set`, keys echoed from `source`, lists answered. */
    const properties = (
      decl: Decl,
      path: string,
      set: Readonly<Record<string, ErrorValue>> = {},
      lists: ErrorResponseSpec['lists'] = {},
      echo: { readonly keys: ErrorItems['keys']; readonly item: string; readonly from: Decl | DeclField } | undefined,
    ): string[][] => {
      const keys = new Map<string, string>();
      for (const key of echo?.keys ?? []) {
        const [responseName, requestName] = typeof key === 'string' ? [key, key] : key;
        keys.set(responseName, requestName);
      }
      for (const name of [...Object.keys(set), ...keys.keys(), ...Object.keys(lists ?? {})]) fieldOf(decl, name, path);
      if (echo && !('fields' in echo.from) && keys.size !== 1)
        throw new Error(what(`${path}: a list of ${echo.from.field.name} values fills exactly one key`));
      const out: string[][] = [];
      for (const f of decl.fields) {
        if (f.presence.empty) continue;
        const name = f.field.name;
        const at = `${path}.${name}`;
        const element = elementOf(f);
        let expression: string[] | undefined;
        if (Object.hasOwn(set, name)) expression = [setValue(f, set[name]!, at)];
        else if (name === 'ErrorCode' && f.field.type.kind === 'primitive' && element.kind === 'primitive' && element.name === 'int16')
          expression = ['errorCode'];
        else if (name === 'ErrorMessage' && f.field.type.kind === 'primitive' && element.kind === 'primitive' && element.name === 'string')
          expression = [nullable(f, 'errorMessage', `errorMessage ?? ${this.literal(f, this.defaults.get(f)!, 'encoded')}`, at)];
        else if (keys.has(name)) expression = [keyValue(f, echo!, keys.get(name)!, at)];
        else if (lists && Object.hasOwn(lists, name)) expression = answered(f, lists[name]!, echo, at);
        if (!expression) continue;
        const [first, ...rest] = expression;
        out.push([`${f.camel === first ? f.camel : `${f.camel}: ${first}`}`, ...rest]);
      }
      return out;
    };

    const keyValue = (
      f: DeclField,
      echo: { readonly item: string; readonly from: Decl | DeclField },
      requestName: string,
      path: string,
    ): string => {
      const element = elementOf(f);
      if (f.field.type.kind === 'array' || element.kind !== 'primitive') throw new Error(what(`${path}: a key must be a primitive field`));
      // A list of primitives: the value itself.
      if (!('fields' in echo.from)) {
        const source = elementOf(echo.from);
        if (source.kind !== 'primitive' || source.name !== element.name)
          throw new Error(
            what(`${path} is ${element.name}, but ${echo.from.field.name} holds ${source.kind === 'primitive' ? source.name : 'structs'}`),
          );
        return echo.item;
      }
      const source = fieldOf(echo.from, requestName, `request ${echo.from.schemaName}`);
      const sourceElement = elementOf(source);
      if (source.field.type.kind === 'array' || sourceElement.kind !== 'primitive' || sourceElement.name !== element.name)
        throw new Error(what(`${path} is ${element.name}, but the request's ${requestName} is ${source.field.typeText}`));
      const value = `${echo.item}.${source.camel}`;
      const sourceCanBeNull = !source.nullable.empty || this.defaults.get(source) === null;
      if (!sourceCanBeNull) return value;
      // Null where the version can carry it, the default where it cannot.
      return nullable(f, value, `${value} ?? ${this.literal(f, this.defaults.get(f)!, 'encoded')}`, path);
    };

    /** A response list answering one or more request lists, item for item. */
    const answered = (
      f: DeclField,
      given: ErrorItems | readonly ErrorItems[],
      parent: { readonly item: string; readonly from: Decl | DeclField } | undefined,
      path: string,
    ): string[] => {
      const element = elementOf(f);
      if (f.field.type.kind !== 'array' || element.kind !== 'struct') throw new Error(what(`${path} is not a list of structs`));
      const owner = parent ? parent.from : request;
      if (!('fields' in owner)) throw new Error(what(`${path}: the items of a list of primitives have no lists`));
      const ownerExpression = parent ? parent.item : 'request';
      const sources = (Array.isArray(given) ? given : [given]) as readonly ErrorItems[];
      const parts = sources.map((items): string[] => {
        const from = fieldOf(owner, items.from, `request ${owner.schemaName}`);
        if (from.field.type.kind !== 'array') throw new Error(what(`${path}: the request's ${items.from} is not a list`));
        const fromElement = elementOf(from);
        const item = itemName(
          fromElement.kind === 'struct'
            ? from.struct!.tsName
            : (f.struct!.fields.find((g) => g.field.name === firstKey(items))?.camel ?? 'value'),
        );
        taken.add(item);
        const canBeNull = !from.nullable.empty || this.defaults.get(from) === null;
        const list = `${ownerExpression}.${from.camel}${canBeNull ? ' ?? []' : ''}`;
        const echo = { keys: items.keys, item, from: fromElement.kind === 'struct' ? from.struct! : from };
        const props = properties(f.struct!, `${path}[]`, items.set, items.lists, echo);
        taken.delete(item);
        const lines = [`${canBeNull ? `(${list})` : list}.map((${item}) => ({`, ...indentProperties(props), '}))'];
        if (items.versions === undefined) return lines;
        const gate = Versions.parse(items.versions, f.presence, what(`${path} versions`));
        if (gate.empty) throw new Error(what(`${path}: versions ${items.versions} are none of the list's`));
        const when = condition(gate, f.presence);
        if (when === 'true') return lines;
        return [`${when.includes('||') ? `(${when})` : when}`, `  ? ${lines[0]}`, ...lines.slice(1).map((l) => `    ${l}`), '  : []'];
      });
      if (parts.length === 1) return parts[0]!;
      return ['[', ...parts.flatMap((part) => [`  ...${part[0]}`, ...part.slice(1, -1).map((l) => `  ${l}`), `  ${part.at(-1)},`]), ']'];
    };
    const firstKey = (items: ErrorItems): string => {
      const key = items.keys[0];
      if (key === undefined) throw new Error(what(`${items.from}: no keys`));
      return typeof key === 'string' ? key : key[0];
    };
    const indentProperties = (props: string[][]): string[] =>
      props.flatMap(([first, ...rest]) =>
        rest.length === 0 ? [`  ${first},`] : [`  ${first}`, ...rest.slice(0, -1).map((l) => `  ${l}`), `  ${rest.at(-1)},`],
      );

    const body = indentProperties(properties(response, response.schemaName, spec.set, spec.lists, undefined));
    this.runtimeUsed.add('Encodable');
    return [
      '/**',
      ` * The answer to a ${apiName} request refused as a whole, as Kafka's ${request.schemaName}.getErrorResponse: the error`,
      ' * at the top and in every item answered, each echoing the keys of the request item it answers (error-responses.ts).',
      ' */',
      ...signature(
        'function errorResponse(',
        [`request: ${request.tsName}`, 'version: number', 'errorCode: number', 'errorMessage: string | null = null'],
        `): Encodable<${response.tsName}> {`,
      ),
      body.length === 0 ? '  return {};' : '  return {',
      ...(body.length === 0 ? [] : [...body.map((l) => `  ${l}`), '  };']),
      '}',
    ];
  }

  emitDefault(decl: Decl): string[] {
    const entries = decl.fields.map((f) => `${f.camel}: ${this.decodedDefault(f)}`);
    return [`function default${decl.tsName}(): ${decl.tsName} {`, ...wrapList('  return { ', entries, ' };'), '}'];
  }

  emitIsDefault(decl: Decl): string[] {
    const tests = decl.fields.map((f) => {
      const v = `input.${f.camel}`;
      const value = this.defaults.get(f)!;
      const element = f.field.type.kind === 'array' ? f.field.type.element : f.field.type;
      let equal: string;
      const notNull = (test: string) => (this.canBeNull(f) ? `(${v} !== null && ${test})` : test);
      if (value === null) equal = `${v} === null`;
      else if (f.field.type.kind === 'array') equal = notNull(`${v}.length === 0`);
      else if (element.kind === 'struct') equal = notNull(`isDefault${f.struct!.tsName}(${v})`);
      else if (element.kind === 'primitive' && (element.name === 'bytes' || element.name === 'records')) {
        this.runtimeUsed.add('bytesLength');
        equal = notNull(`bytesLength(${v}) === 0`);
      } else equal = `${v} === ${this.literal(f, value, 'encoded')}`;
      return `(${v} === undefined || ${equal})`;
    });
    const lines = signature(`function isDefault${decl.tsName}(`, [`input: Encodable<${decl.tsName}>`], '): boolean {');
    if (tests.length === 0) lines.push('  return true;');
    else {
      const oneLine = `  return ${tests.join(' && ')};`;
      if (oneLine.length <= 140) lines.push(oneLine);
      else lines.push('  return (', ...tests.map((t, i) => `    ${t}${i < tests.length - 1 ? ' &&' : ''}`), '  );');
    }
    lines.push('}');
    return lines;
  }
}

/** JSON with small objects on one line, so the descriptor stays reviewable. */
export function compactJson(value: unknown, indent = ''): string {
  const oneLine = JSON.stringify(value);
  if (oneLine.length + indent.length <= 140 || value === null || typeof value !== 'object') return oneLine;
  const inner = `${indent}  `;
  if (Array.isArray(value)) return `[\n${value.map((v) => `${inner}${compactJson(v, inner)}`).join(',\n')}\n${indent}]`;
  const entries = Object.entries(value as Record<string, unknown>);
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${compactJson(v, inner)}`).join(',\n')}\n${indent}}`;
}
