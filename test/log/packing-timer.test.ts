/**
 * The packing writer's timer (lib/log/packing.ts `keepMaterializing`): it reads the writer's fence
 * every 5 s and runs a materialisation round every `materializeMs`, counted from when the writer
 * started packing. Fake timers and clock; a memory store.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProducerStates } from '../../lib/log/idempotence.js';
import { PackingWriter } from '../../lib/log/packing.js';
import { MemoryMetadataStore } from '../../lib/storage/memory.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('packing writer: its timer', () => {
  it('runs its first round materializeMs after it starts packing, reading only its fence on the ticks before', async () => {
    vi.useFakeTimers({ now: 1_000_000_000_000 });
    const metadata = new MemoryMetadataStore();
    const writer = new PackingWriter(metadata, 'timer-test', () => 1, {
      producerStates: new ProducerStates(metadata),
      materializeMs: 60_000,
    });
    const rounds = vi.spyOn(writer, 'materialize');
    await vi.advanceTimersByTimeAsync(20_000); // built 20 s before it packs: the interval starts at its first partition
    writer.adopt('topic-id', 'topic', 0, 1, 0);
    await vi.advanceTimersByTimeAsync(30_000);
    writer.adopt('topic-id', 'topic', 1, 1, 0); // a second partition does not start the interval again
    await vi.advanceTimersByTimeAsync(25_000); // eleven fence checks (every 5 s) since the first, no round
    expect(rounds).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(rounds).toHaveBeenCalledTimes(1);
    expect(rounds).toHaveBeenCalledWith('due');
    await vi.advanceTimersByTimeAsync(55_000);
    expect(rounds).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(rounds).toHaveBeenCalledTimes(2);
    writer.close();
  });
});
