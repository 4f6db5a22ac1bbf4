/**
 * Metrics as CloudWatch Embedded Metric Format (EMF): one JSON log line per observation, carrying
 * its values and an `_aws` block that tells CloudWatch which of them are metrics, in which namespace,
 * by which dimensions. In Lambda, lines on stdout become metrics with no API call; locally they are
 * plain JSON lines to read or ship. The format is small and documented, so it is written here: the
 * official library detects its environment by probing the EC2 metadata endpoint, which Spool must
 * not depend on.
 *
 *   {"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"Spool",
 *     "Dimensions":[["Route"],[]],"Metrics":[{"Name":"Latency","Unit":"Milliseconds"}]}]},
 *    "Route":"POST /v1/topics/:topic/records","Latency":12.5}
 * Every metric is published by its dimensions and in aggregate (the empty dimension set).
 */
export type MetricUnit = 'Count' | 'Milliseconds' | 'Bytes';

export interface Metrics {
  /** Records values under the given dimensions (and extra properties, searchable in logs but not metrics). */
  emit(
    values: Readonly<Record<string, readonly [value: number, unit: MetricUnit]>>,
    dimensions?: Readonly<Record<string, string>>,
    properties?: Readonly<Record<string, unknown>>,
  ): void;
}

export const metricsNamespace = 'Spool';

export const noMetrics: Metrics = { emit() {} };

export function emfMetrics(write: (line: string) => void = (line) => process.stdout.write(line), now: () => number = Date.now): Metrics {
  return {
    emit(values, dimensions = {}, properties = {}) {
      const names = Object.keys(values);
      if (names.length === 0) return;
      const line: Record<string, unknown> = {
        ...properties,
        ...dimensions,
        _aws: {
          Timestamp: now(),
          CloudWatchMetrics: [
            {
              Namespace: metricsNamespace,
              // Each metric by its dimensions and also in aggregate, so alarms can watch the total.
              Dimensions: Object.keys(dimensions).length > 0 ? [Object.keys(dimensions), []] : [[]],
              Metrics: names.map((name) => ({ Name: name, Unit: values[name]![1] })),
            },
          ],
        },
      };
      for (const name of names) line[name] = values[name]![0];
      write(`${JSON.stringify(line)}\n`);
    },
  };
}

/** Every observation to each of `sinks` (EMF lines and the Prometheus registry, on an agent with SPOOL_METRICS=emf). */
export function teeMetrics(...sinks: readonly Metrics[]): Metrics {
  const live = sinks.filter((sink) => sink !== noMetrics);
  if (live.length === 0) return noMetrics;
  if (live.length === 1) return live[0]!;
  return {
    emit(values, dimensions, properties) {
      for (const sink of live) sink.emit(values, dimensions, properties);
    },
  };
}
