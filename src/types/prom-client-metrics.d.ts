/** prom-client's default metrics, one module each (src/api/process-metrics.ts); CommonJS without types of their own. */
declare module 'prom-client/lib/metrics/*.js' {
  import type { Registry } from 'prom-client';
  /** Registers the metric on `registry` (as collectDefaultMetrics calls it). */
  const register: (registry: Registry, config: Record<string, unknown>) => void;
  export default register;
}

/**
 * prom-client's registry and metric classes, one module each (src/api/prom.ts, which gives them prom-client's types);
 * CommonJS without types of their own.
 */
declare module 'prom-client/lib/*.js' {
  const exported: unknown;
  export default exported;
}
