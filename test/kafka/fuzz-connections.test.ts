/**
 * Fuzzed frames over real sockets to a real listener (memory stores): valid headers with the fuzzed
 * bodies of test/kafka/fuzz/inputs.ts (every served API and version, round robin), headers of random
 * bytes, and sizes that are negative, over the limit, smaller than a header, or larger than what is
 * sent before the client stops sending. Each fuzzed connection must get an answer or be closed within
 * a bound (no hang); after each batch the agent still answers ApiVersions on a fresh connection, and
 * its RSS stays within a bound.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { KafkaWriter } from '../../lib/kafka/wire.js';
import { memory } from '../support/stores.js';
import { fuzzTargets, nthInput } from './fuzz/inputs.js';
import { seeded } from './protocol/samples.js';
import { frame, splitHostPort, WireClient } from './support/wire-client.js';
import { useWireHarness } from './support/wire-harness.js';

const seed = 20261205;
/** A fuzzed connection neither answered nor closed by then hangs. */
const boundMs = 5000;
const batches = 40;
const connectionsPerBatch = 50;
/** Largest frame the listener accepts here. */
const maxRequestBytes = 1024 * 1024;

const { listener } = await useWireHarness({ stores: memory, log: { defaultPartitions: 1 }, listener: { maxRequestBytes } });

type Outcome = 'answered' | 'closed' | 'hang';

/** Opens a connection, writes `bytes`, optionally ends the sending side; what became of it within the bound. */
function exchange(bytes: Buffer, endAfter: boolean): Promise<Outcome> {
  const [host, port] = splitHostPort(listener.bootstrap);
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    const socket = connect({ host, port }, () => {
      socket.write(bytes);
      if (endAfter) socket.end();
    });
    const done = (outcome: Outcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('hang'), boundMs);
    socket.on('data', (data) => {
      received = Buffer.concat([received, data]);
      if (received.length >= 4 && received.length >= 4 + received.readInt32BE(0)) done('answered');
    });
    socket.on('error', () => undefined);
    socket.once('close', () => done('closed'));
  });
}

const targets = fuzzTargets();

/** Fuzzed connection `index`: the frame to send, and whether the client ends its side after it. */
function fuzzedFrame(index: number): { bytes: Buffer; endAfter: boolean; label: string } {
  const random = seeded(seed * 7919 + index);
  const roll = random();
  if (roll < 0.7) {
    const { target, input } = nthInput(targets, seed, index);
    const header = new KafkaWriter(false).int32(0).int16(target.codec.key).int16(target.version).int32(index).int16(-1);
    if (target.flexible) header.uvarint(0);
    const request = Buffer.concat([...header.finish(), input.bytes]);
    request.writeInt32BE(request.length - 4, 0);
    // An ApiVersions request after it: answers leave in order, so its answer shows the fuzzed request
    // was answered or needed none (Produce with acks=0).
    const bytes = Buffer.concat([request, frame(18, 0, -1)]);
    return { bytes, endAfter: false, label: `${target.label} (${input.kind}) ${input.bytes.toString('hex')}` };
  }
  const junk = Buffer.from(Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256)));
  const sized = (size: number, body: Buffer) => {
    const prefix = Buffer.alloc(4);
    prefix.writeInt32BE(size, 0);
    return Buffer.concat([prefix, body]);
  };
  if (roll < 0.8) return { bytes: sized(junk.length, junk), endAfter: false, label: `random header ${junk.toString('hex')}` };
  const sizes = [-1, -0x80000000, maxRequestBytes + 1, 0x7fffffff, 0, 1, 3];
  const size = sizes[Math.floor(random() * sizes.length)]!;
  if (roll < 0.9) return { bytes: sized(size, junk), endAfter: size > junk.length, label: `size ${size}` };
  // Declares more than it sends, then stops sending.
  return { bytes: sized(junk.length + 1 + Math.floor(random() * 100), junk), endAfter: true, label: 'short frame' };
}

async function answersApiVersions(): Promise<boolean> {
  const client = await WireClient.open(listener.bootstrap);
  try {
    const answer = await client.call('ApiVersions', 0);
    return answer.errorCode === 0 && answer.apiVersions.length > 0;
  } finally {
    client.close();
  }
}

describe('kafka > fuzzed frames over sockets', () => {
  it('answer or close every fuzzed connection in time, and leave the agent serving', async () => {
    expect(await answersApiVersions()).toBe(true);
    const rssBeforeBytes = process.memoryUsage().rss;
    const outcomes = new Map<Outcome, number>();
    const hangs: string[] = [];
    for (let batch = 0; batch < batches; batch++) {
      const frames = Array.from({ length: connectionsPerBatch }, (_, i) => fuzzedFrame(batch * connectionsPerBatch + i));
      const results = await Promise.all(frames.map((f) => exchange(f.bytes, f.endAfter)));
      results.forEach((outcome, i) => {
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (outcome === 'hang') hangs.push(frames[i]!.label);
      });
      expect(await answersApiVersions()).toBe(true);
    }
    expect(hangs).toEqual([]);
    // Both happen: parsed requests are answered, unparsable frames close their connection.
    expect(outcomes.get('answered')).toBeGreaterThan(0);
    expect(outcomes.get('closed')).toBeGreaterThan(0);
    const rssGrowthBytes = process.memoryUsage().rss - rssBeforeBytes;
    expect(rssGrowthBytes).toBeLessThan(256 * 1024 * 1024);
  }, 120_000);
});
