/**
 * What the Kafka listener holds in memory for clients: a frame larger than 512 KiB before SASL
 * authentication closes the connection unread, and across connections no more than
 * `maxBufferedBytes` of frames are read or in flight; the rest wait, unread, in order (issue 18).
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiKeys } from '../../lib/auth.js';
import { apiVersionsHandler } from '../../lib/kafka/handlers/metadata.js';
import { KafkaServer, maxUnauthenticatedFrameBytes } from '../../lib/kafka/server.js';
import { silentLogger } from '../../lib/logger.js';
import { frame, splitHostPort } from './support/wire-client.js';
import { startWireHarness } from './support/wire-harness.js';

const cleanup: (() => Promise<void>)[] = [];
/** ApiVersions' feature levels: none finalized (no store behind these servers). */
const noFeatures = { recent: async () => ({ epoch: 1, levels: {} }), known: () => ({ epoch: 1, levels: {} }) };
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function open(address: string): Promise<Socket> {
  const [host, port] = splitHostPort(address);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => resolve(socket));
    socket.once('error', reject);
    cleanup.push(async () => void socket.destroy());
  });
}

const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

/** Resolves with the first answer frame's correlation id, or 'none' if none comes within `ms`. */
function answer(socket: Socket, ms: number): Promise<number | 'none'> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.off('data', onData);
      resolve('none');
    }, ms);
    const onData = (data: Buffer) => {
      received = Buffer.concat([received, data]);
      if (received.length >= 8 && received.length >= 4 + received.readInt32BE(0)) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(received.readInt32BE(4));
      }
    };
    socket.on('data', onData);
  });
}

/** An ApiVersions v0 request padded to `bytes` in all (the server reads no fields of v0 and ignores the rest). */
function paddedApiVersions(correlationId: number, bytes: number): Buffer {
  return frame(18, 0, correlationId, Buffer.alloc(bytes - 4 - 10));
}

describe('kafka > memory held for clients', () => {
  it("closes an unauthenticated connection that declares a frame over 512 KiB, before reading it; an authenticated limit is the listener's", async () => {
    const kafka = await startWireHarness();
    cleanup.push(() => kafka.close());
    const listener = await kafka.listen({ apiKeys: new ApiKeys(kafka.stores.metadata) });
    cleanup.push(() => listener.close());
    // Ten clients each declaring a 99 MB frame (the reproduction): each closed at once, nothing buffered.
    const sockets = await Promise.all(Array.from({ length: 10 }, () => open(listener.bootstrap)));
    for (const socket of sockets) {
      const size = Buffer.alloc(4);
      size.writeInt32BE(99 * 1024 * 1024);
      socket.write(Buffer.concat([size, Buffer.alloc(64 * 1024)]));
    }
    await Promise.all(sockets.map(closed));
    // A frame at the limit is read and answered (ApiVersions is served before authentication).
    const socket = await open(listener.bootstrap);
    const answered = answer(socket, 5000);
    socket.write(paddedApiVersions(7, 4 + maxUnauthenticatedFrameBytes));
    expect(await answered).toBe(7);
  });

  it('holds at most maxBufferedBytes of frames across connections; a frame that does not fit waits unread, and those after it wait their turn', async () => {
    const budget = 1024 * 1024;
    const frameBytes = 600 * 1024;
    let server: KafkaServer | undefined;
    server = new KafkaServer({
      handlers: [apiVersionsHandler(() => server!.versions, noFeatures)],
      logger: silentLogger,
      maxBufferedBytes: budget,
    });
    const address = await server.listen('127.0.0.1', 0);
    cleanup.push(() => server!.close(100));
    const bootstrap = `127.0.0.1:${address.port}`;

    // A: a large frame, half sent: its bytes are reserved while it arrives.
    const a = await open(bootstrap);
    const first = paddedApiVersions(1, frameBytes);
    a.write(first.subarray(0, frameBytes / 2));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.bufferedBytes).toBe(frameBytes);

    // B: a small request still fits beside it and is answered.
    const b = await open(bootstrap);
    const bAnswer = answer(b, 5000);
    b.write(paddedApiVersions(2, 64));
    expect(await bAnswer).toBe(2);

    // C: another large frame does not fit: sent whole, it is neither reserved nor answered.
    const c = await open(bootstrap);
    const cAnswer = answer(c, 10_000);
    c.write(paddedApiVersions(3, frameBytes));
    // D: a small request behind C waits its turn (C asked first).
    const d = await open(bootstrap);
    const dAnswer = answer(d, 10_000);
    d.write(paddedApiVersions(4, 64));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(server.bufferedBytes).toBe(frameBytes);
    expect(await Promise.race([cAnswer, dAnswer, new Promise((resolve) => setTimeout(() => resolve('waiting'), 50))])).toBe('waiting');

    // A completes: it is answered, its bytes are released, and C then D go on.
    const aAnswer = answer(a, 5000);
    a.write(first.subarray(frameBytes / 2));
    expect(await aAnswer).toBe(1);
    expect(await cAnswer).toBe(3);
    expect(await dAnswer).toBe(4);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.bufferedBytes).toBe(0);
  });

  it("releases a closed connection's reservation, so others waiting behind it go on", async () => {
    const frameBytes = 600 * 1024;
    let server: KafkaServer | undefined;
    server = new KafkaServer({
      handlers: [apiVersionsHandler(() => server!.versions, noFeatures)],
      logger: silentLogger,
      maxBufferedBytes: 1024 * 1024,
    });
    const address = await server.listen('127.0.0.1', 0);
    cleanup.push(() => server!.close(100));
    const bootstrap = `127.0.0.1:${address.port}`;
    const stalled = await open(bootstrap);
    stalled.write(paddedApiVersions(1, frameBytes).subarray(0, 1000));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const waiting = await open(bootstrap);
    const waitingAnswer = answer(waiting, 10_000);
    waiting.write(paddedApiVersions(2, frameBytes));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.bufferedBytes).toBe(frameBytes);
    stalled.destroy(); // a client that never finishes its frame, then goes away
    expect(await waitingAnswer).toBe(2);
  });
});
