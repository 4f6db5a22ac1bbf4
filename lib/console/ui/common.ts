/**
 * What every page of the console uses: the signed-in key, loading through the API, errors shown as the
 * API's code and message (a 401 asks for a key), and charts over time (uPlot).
 */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { ApiError, setApiKey } from './api.js';
import type { Principal } from '../../permissions.js';

/** The signed-in key (GET /v1/me): the pages offer only what it may do. */
export interface Me extends Pick<Principal, 'name' | 'permissions'> {
  /** false: keys are off, everyone may do everything. */
  readonly auth: boolean;
}

/** Loads `load()` now, whenever `deps` change, and every `everyMs` if given; `reload` loads again. */
export function useLoaded<T>(load: () => Promise<T>, deps: readonly unknown[], everyMs?: number) {
  const [state, setState] = useState<{ value?: T; error?: unknown }>({});
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    let loading = false;
    const run = () => {
      if (loading) return; // a slow load is not asked for again before it answers
      loading = true;
      load()
        .then(
          (value) => live && setState({ value }),
          (error: unknown) => live && setState({ error }),
        )
        .finally(() => {
          loading = false;
        });
    };
    run();
    const timer = everyMs === undefined ? undefined : setInterval(run, everyMs);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export function Failure({ error }: { error: unknown }) {
  if (error instanceof ApiError && error.status === 401) return html`<${SignIn} error=${error} />`;
  const message = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
  return html`<p role="alert" class="error" data-testid="error">${message}</p>`;
}

export function SignIn({ error }: { error?: ApiError }) {
  const [key, setKey] = useState('');
  return html`<article data-testid="sign-in">
    <h3>Sign in</h3>
    ${error ? html`<p role="alert" class="error">${error.code}: ${error.message}</p>` : null}
    <form
      onSubmit=${(event: Event) => {
        event.preventDefault();
        setApiKey(key);
        location.reload();
      }}
    >
      <label>API key <input type="password" name="key" autocomplete="off" value=${key} onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} /></label>
      <button type="submit">Sign in</button>
    </form>
  </article>`;
}

/** The text of an input or select an event came from. */
export const inputText = (event: Event) => (event.target as HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement).value;

export interface ChartSeries {
  readonly label: string;
  readonly stroke: string;
  /** The scale (and axis) it is drawn on; a second scale gets an axis on the right. */
  readonly scale: string;
}

/**
 * Lines over time: `times` in seconds since the epoch, one array of values per series. At least
 * `minSpanS` seconds are shown, so that the first points of a live chart do not stretch across it.
 */
export function TimeChart({
  times,
  values,
  series,
  minSpanS = 0,
  testId,
}: {
  times: readonly number[];
  values: readonly (readonly (number | null)[])[];
  series: readonly ChartSeries[];
  minSpanS?: number;
  testId: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | undefined>(undefined);
  const data = () => [times as number[], ...(values as (number | null)[][])] as uPlot.AlignedData;
  useEffect(() => {
    if (box.current === null) return;
    const scales = [...new Set(series.map((s) => s.scale))];
    chart.current = new uPlot(
      {
        width: Math.max(280, box.current.clientWidth),
        height: 200,
        scales: { x: { time: true, range: (_chart, min, max) => [Math.min(min, max - minSpanS), max] } },
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, scale: s.scale }))],
        axes: [{}, ...scales.map((scale, i) => ({ scale, size: 60, side: i === 0 ? 3 : 1, grid: { show: i === 0 } }))],
      },
      data(),
      box.current,
    );
    return () => chart.current?.destroy();
  }, []);
  useEffect(() => chart.current?.setData(data()));
  return html`<div ref=${box} data-testid=${testId}></div>`;
}
