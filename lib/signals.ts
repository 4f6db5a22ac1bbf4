/**
 * Linking abort signals without leaks.
 *
 * Not `AbortSignal.any`: on Node before 22.12 each signal it makes leaves an entry in every source
 * until that source aborts (nodejs/node#55351), so a source that lives as long as the process (the
 * agent's shutdown signal) gains one entry per request that links to it. A linked signal here holds
 * one `abort` listener on each source, and `dispose` removes them. `sleep` ends early, and lets go
 * of its listener, when its signal aborts.
 */
import { setMaxListeners } from 'node:events';

export interface LinkedSignal {
  /** Aborted once any source is. */
  readonly signal: AbortSignal;
  /** Lets go of the sources; call when the work the signal guards is over. */
  dispose(): void;
}

export function linkedSignal(sources: readonly (AbortSignal | undefined)[]): LinkedSignal {
  const controller = new AbortController();
  const linked = sources.filter((source): source is AbortSignal => source !== undefined);
  const abort = () => controller.abort();
  for (const source of linked) {
    if (source.aborted) controller.abort();
    // Many requests in flight each listen on a long-lived source: that many listeners is expected.
    setMaxListeners(0, source);
    source.addEventListener('abort', abort, { once: true });
  }
  return {
    signal: controller.signal,
    dispose: () => {
      for (const source of linked) source.removeEventListener('abort', abort);
    },
  };
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
