/**
 * The soak's heap snapshot summary: a streaming read gives the same totals as parsing the whole file,
 * whatever the chunk boundaries.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/stores.js';
import { HeapSnapshotReader, summariseHeapSnapshot, type HeapSummary, type KindTotal } from './heap-snapshot.js';

/**
 * A snapshot of four nodes in V8's layout (fields type, name, id, self_size, edge_count, trace_node_id,
 * detachedness): two Map objects of 32 and 48 bytes, a string of 20 named by its content, a closure of
 * 40 named `on"Data"` (an escaped name) and an ArrayBuffer's data of 1024 bytes.
 */
const fixture = [
  '{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],',
  '"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic"],"string","number","number","number","number","number"],',
  '"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property"],"string_or_number","node"]},',
  '"node_count":5,"edge_count":1,"trace_function_count":0},',
  '"nodes":[3,1,1,32,1,0,0',
  ',3,1,3,48,0,0,0',
  ',2,2,5,20,0,0,0',
  ',5,3,7,40,0,0,0',
  ',8,4,9,1024,0,0,0],',
  '"edges":[2,0,7],',
  '"trace_function_infos":[],',
  '"trace_tree":[],',
  '"samples":[],',
  '"locations":[],',
  '"strings":["<dummy>",',
  '"Map",',
  '"a \\"string\\" ]},\\u00e9",',
  '"on\\"Data\\"",',
  '"system / JSArrayBufferData"]}',
].join('\n');

const plain = (summary: HeapSummary) => ({
  nodeCount: summary.nodeCount,
  totalBytes: summary.totalBytes,
  byType: Object.fromEntries(summary.byType),
  byKind: Object.fromEntries(summary.byKind),
});

function readInChunks(text: string, size: number): HeapSummary {
  const reader = new HeapSnapshotReader();
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += size) reader.push(bytes.subarray(at, at + size));
  return reader.finish();
}

/** The same summary from the whole file parsed at once: the reference the streaming read must match. */
function summariseWhole(text: string): ReturnType<typeof plain> {
  const snapshot = JSON.parse(text) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const byType: Record<string, KindTotal> = {};
  const byKind: Record<string, KindTotal> = {};
  const add = (map: Record<string, KindTotal>, key: string, bytes: number) =>
    (map[key] = { count: (map[key]?.count ?? 0) + 1, bytes: (map[key]?.bytes ?? 0) + bytes });
  let totalBytes = 0;
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + fields.indexOf('type')]!]!;
    const name = snapshot.strings[snapshot.nodes[i + fields.indexOf('name')]!]!;
    const bytes = snapshot.nodes[i + fields.indexOf('self_size')]!;
    totalBytes += bytes;
    add(byType, type, bytes);
    const named = ['object', 'native', 'hidden', 'array', 'synthetic', 'closure'].includes(type);
    add(byKind, !named ? `(${type})` : type === 'object' ? name || '(anonymous object)' : `(${type}) ${name || '(anonymous)'}`, bytes);
  }
  return { nodeCount: snapshot.nodes.length / fields.length, totalBytes, byType, byKind };
}

describe('reliability > heap snapshot summary', () => {
  it('totals nodes by type and by kind, naming objects by constructor and strings by type', () => {
    expect(plain(readInChunks(fixture, fixture.length))).toEqual({
      nodeCount: 5,
      totalBytes: 1164,
      byType: {
        object: { count: 2, bytes: 80 },
        string: { count: 1, bytes: 20 },
        closure: { count: 1, bytes: 40 },
        native: { count: 1, bytes: 1024 },
      },
      byKind: {
        Map: { count: 2, bytes: 80 },
        '(string)': { count: 1, bytes: 20 },
        '(closure) on"Data"': { count: 1, bytes: 40 },
        '(native) system / JSArrayBufferData': { count: 1, bytes: 1024 },
      },
    });
  });

  it('reads the same whatever the chunk boundaries', () => {
    const whole = plain(readInChunks(fixture, fixture.length));
    for (const size of [1, 2, 3, 5, 7, 11, 64]) expect(plain(readInChunks(fixture, size)), `chunks of ${size} bytes`).toEqual(whole);
  });

  it('refuses a snapshot cut short', () => {
    for (const length of [100, fixture.indexOf('"edges"'), fixture.indexOf('on\\"Data'), fixture.length - 1]) {
      expect(() => readInChunks(fixture.slice(0, length), 10), `cut at ${length}`).toThrow();
    }
  });

  it('summarises a real snapshot of a Node process as parsing it whole does', { timeout: 60_000 }, async () => {
    const dir = tempDir('spool-heap-snapshot-');
    try {
      const path = join(dir, 'child.heapsnapshot');
      execFileSync(process.execPath, [
        '-e',
        `globalThis.kept = Array.from({ length: 5000 }, (_, i) => new Map([[i, Buffer.alloc(100)]])); require('node:v8').writeHeapSnapshot(${JSON.stringify(path)})`,
      ]);
      const summary = plain(await summariseHeapSnapshot(path));
      expect(summary).toEqual(summariseWhole(readFileSync(path, 'utf8')));
      expect(summary.byKind.Map!.count).toBeGreaterThanOrEqual(5000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
