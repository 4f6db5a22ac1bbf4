/**
 * A V8 heap snapshot (`.heapsnapshot`, as `--heapsnapshot-signal` or `v8.writeHeapSnapshot()` write it)
 * summarised by kind, read as a stream: a snapshot of a few hundred MB of JSON would not fit one string
 * (V8 limits strings to ~512 MiB), and parsing it whole would hold the file several times over. Only a
 * few counters per kind and the strings that name kinds are kept.
 *
 * The format: one JSON object whose members V8's serializer writes in this order:
 *   snapshot   {meta: {node_fields, node_types, ...}, node_count, edge_count, ...}
 *   nodes      node_count × node_fields.length unsigned integers, one node after another; of a node's
 *              fields this reads `type` (an index into meta.node_types[0]), `name` (an index into
 *              `strings`) and `self_size` (bytes the node itself holds, ArrayBuffer data included)
 *   edges, trace_function_infos, trace_tree, samples, locations
 *              numbers only: skipped
 *   strings    JSON strings, referred to by index
 * A snapshot is taken after a full GC, so its nodes are the live heap.
 */
import { createReadStream } from 'node:fs';

export interface KindTotal {
  readonly count: number;
  readonly bytes: number;
}

export interface HeapSummary {
  readonly nodeCount: number;
  /** The sum of every node's self_size: the live heap plus ArrayBuffer data (`(native) system / JSArrayBufferData`). */
  readonly totalBytes: number;
  /** By node type (`object`, `closure`, `string`, `native`, ...). */
  readonly byType: ReadonlyMap<string, KindTotal>;
  /**
   * By kind: an object's constructor name (`Map`, `Buffer`, `Object`); for native, hidden, array,
   * synthetic and closure nodes the type and name (`(native) system / JSArrayBufferData`,
   * `(closure) onData`), whose names are few and tell what holds the memory; for the others the type
   * alone (`(string)`, `(code)`), whose names are their contents.
   */
  readonly byKind: ReadonlyMap<string, KindTotal>;
}

/** Node types whose name says what the node is (not what it contains), so kinds are told apart by it. */
const namedTypes = new Set(['object', 'native', 'hidden', 'array', 'synthetic', 'closure']);

const NO_NAME = 0xffff_ffff;
const TWO_32 = 2 ** 32;
const NODES_KEY = Buffer.from('"nodes":[');
const STRINGS_KEY = Buffer.from('"strings":[');
const [COMMA, CLOSE_BRACKET, CLOSE_BRACE, QUOTE, BACKSLASH, ZERO, NINE] = [0x2c, 0x5d, 0x7d, 0x22, 0x5c, 0x30, 0x39];
const isSpace = (byte: number) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/** Summarises the snapshot at `path`, reading it in chunks. */
export async function summariseHeapSnapshot(path: string): Promise<HeapSummary> {
  const reader = new HeapSnapshotReader();
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) reader.push(chunk as Buffer);
  return reader.finish();
}

/** The streaming parser: `push` the file's bytes in chunks of any size, then `finish`. */
export class HeapSnapshotReader {
  private state: 'header' | 'nodes' | 'seek-strings' | 'strings' | 'end' = 'header';
  private pending = Buffer.alloc(0);
  // From the header.
  private fieldCount = 0;
  private typeField = 0;
  private nameField = 0;
  private selfSizeField = 0;
  private typeNames: string[] = [];
  private declaredNodeCount = 0;
  // Nodes: the number being read, the field it is, and the node's fields read so far.
  private value = 0;
  private hasDigits = false;
  private field = 0;
  private nodeType = 0;
  private nodeName = 0;
  private nodeSelfSize = 0;
  private nodeCount = 0;
  /** type × 2^32 + name index (NO_NAME for types not told apart by name) → [count, bytes]. */
  private readonly totals = new Map<number, [number, number]>();
  // Strings: the index of the string being read, and its bytes when its name is needed.
  private neededNames = new Set<number>();
  private readonly names = new Map<number, string>();
  private stringIndex = 0;
  private inString = false;
  private escaped = false;
  private stringParts: Buffer[] = [];
  private closed = false;

  push(chunk: Buffer): void {
    if (this.state === 'header') {
      this.pending = Buffer.concat([this.pending, chunk]);
      const at = this.pending.indexOf(NODES_KEY);
      if (at < 0) {
        if (this.pending.length > 1024 * 1024) throw new Error('not a heap snapshot: no "nodes" array in its first MiB');
        return;
      }
      this.readHeader(this.pending.subarray(0, at).toString('utf8'));
      chunk = this.pending.subarray(at + NODES_KEY.length);
      this.pending = Buffer.alloc(0);
      this.state = 'nodes';
    }
    if (this.state === 'nodes') {
      const end = this.readNodes(chunk);
      if (end < 0) return;
      chunk = chunk.subarray(end);
      this.state = 'seek-strings';
      if (this.nodeCount !== this.declaredNodeCount)
        throw new Error(`the snapshot declares ${this.declaredNodeCount} nodes, its nodes array holds ${this.nodeCount}`);
      for (const key of this.totals.keys()) if (key % TWO_32 !== NO_NAME) this.neededNames.add(key % TWO_32);
    }
    if (this.state === 'seek-strings') {
      // Everything before "strings" is numbers, brackets and member names; keep a tail to find the key across chunks.
      const window = Buffer.concat([this.pending, chunk]);
      const at = window.indexOf(STRINGS_KEY);
      if (at < 0) {
        this.pending = Buffer.from(window.subarray(Math.max(0, window.length - STRINGS_KEY.length)));
        return;
      }
      chunk = window.subarray(at + STRINGS_KEY.length);
      this.pending = Buffer.alloc(0);
      this.state = 'strings';
    }
    if (this.state === 'strings') {
      const end = this.readStrings(chunk);
      if (end < 0) return;
      chunk = chunk.subarray(end);
      this.state = 'end';
    }
    for (const byte of chunk) {
      if (byte === CLOSE_BRACE && !this.closed) this.closed = true;
      else if (!isSpace(byte)) throw new Error(`unexpected ${JSON.stringify(String.fromCharCode(byte))} after the strings array`);
    }
  }

  finish(): HeapSummary {
    if (!this.closed) throw new Error(`the snapshot ends early (while reading its ${this.state === 'end' ? 'closing brace' : this.state})`);
    const byType = new Map<string, KindTotal>();
    const byKind = new Map<string, KindTotal>();
    const add = (map: Map<string, KindTotal>, key: string, count: number, bytes: number) => {
      const total = map.get(key);
      map.set(key, { count: (total?.count ?? 0) + count, bytes: (total?.bytes ?? 0) + bytes });
    };
    let totalBytes = 0;
    for (const [key, [count, bytes]] of this.totals) {
      const type = this.typeNames[Math.floor(key / TWO_32)] ?? `type ${Math.floor(key / TWO_32)}`;
      const nameIndex = key % TWO_32;
      const name = nameIndex === NO_NAME ? undefined : this.names.get(nameIndex);
      if (nameIndex !== NO_NAME && name === undefined)
        throw new Error(`a node names string ${nameIndex}, past the ${this.stringIndex} strings`);
      totalBytes += bytes;
      add(byType, type, count, bytes);
      add(
        byKind,
        name === undefined ? `(${type})` : type === 'object' ? name || '(anonymous object)' : `(${type}) ${name || '(anonymous)'}`,
        count,
        bytes,
      );
    }
    return { nodeCount: this.nodeCount, totalBytes, byType, byKind };
  }

  private readHeader(text: string): void {
    // `{"snapshot":{...},` : close the object after the snapshot member.
    const { snapshot } = JSON.parse(`${text.trimEnd().replace(/,$/, '')}}`) as {
      snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] }; node_count: number };
    };
    const fields = snapshot.meta.node_fields;
    const fieldIndex = (name: string) => {
      const index = fields.indexOf(name);
      if (index < 0) throw new Error(`the snapshot's nodes have no "${name}" field (fields: ${fields.join(', ')})`);
      return index;
    };
    this.fieldCount = fields.length;
    this.typeField = fieldIndex('type');
    this.nameField = fieldIndex('name');
    this.selfSizeField = fieldIndex('self_size');
    this.typeNames = snapshot.meta.node_types[0];
    this.declaredNodeCount = snapshot.node_count;
  }

  /** Reads node fields from `chunk`; returns the offset after the nodes array's `]`, or -1 if it goes on. */
  private readNodes(chunk: Buffer): number {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte >= ZERO && byte <= NINE) {
        this.value = this.value * 10 + (byte - ZERO);
        this.hasDigits = true;
        continue;
      }
      if (byte !== COMMA && byte !== CLOSE_BRACKET && !isSpace(byte))
        throw new Error(`unexpected ${JSON.stringify(String.fromCharCode(byte))} in the nodes array`);
      if (this.hasDigits) this.endField();
      if (byte === CLOSE_BRACKET) {
        if (this.field !== 0) throw new Error(`the nodes array ends inside a node (field ${this.field} of ${this.fieldCount})`);
        return i + 1;
      }
    }
    return -1;
  }

  private endField(): void {
    if (this.field === this.typeField) this.nodeType = this.value;
    else if (this.field === this.nameField) this.nodeName = this.value;
    else if (this.field === this.selfSizeField) this.nodeSelfSize = this.value;
    this.value = 0;
    this.hasDigits = false;
    if (++this.field < this.fieldCount) return;
    this.field = 0;
    this.nodeCount++;
    const named = namedTypes.has(this.typeNames[this.nodeType] ?? '');
    const key = this.nodeType * TWO_32 + (named ? this.nodeName : NO_NAME);
    const total = this.totals.get(key);
    if (total) {
      total[0]++;
      total[1] += this.nodeSelfSize;
    } else this.totals.set(key, [1, this.nodeSelfSize]);
  }

  /** Reads strings from `chunk`, keeping the needed ones; returns the offset after the array's `]`, or -1. */
  private readStrings(chunk: Buffer): number {
    let start = this.inString ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (!this.inString) {
        if (byte === QUOTE) {
          this.inString = true;
          start = i;
        } else if (byte === CLOSE_BRACKET) return i + 1;
        else if (byte !== COMMA && !isSpace(byte))
          throw new Error(`unexpected ${JSON.stringify(String.fromCharCode(byte))} in the strings array`);
      } else if (this.escaped) this.escaped = false;
      else if (byte === BACKSLASH) this.escaped = true;
      else if (byte === QUOTE) {
        if (this.neededNames.has(this.stringIndex)) {
          this.stringParts.push(chunk.subarray(start, i + 1));
          this.names.set(this.stringIndex, JSON.parse(Buffer.concat(this.stringParts).toString('utf8')) as string);
        }
        this.stringParts = [];
        this.stringIndex++;
        this.inString = false;
      }
    }
    if (this.inString && this.neededNames.has(this.stringIndex)) this.stringParts.push(Buffer.from(chunk.subarray(start)));
    return -1;
  }
}
