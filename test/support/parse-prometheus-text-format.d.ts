/** Types for parse-prometheus-text-format (the package ships none): families as prom2json prints them. */
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
