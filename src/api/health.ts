/**
 * Probes and metrics beside the REST API: `/healthz` (the process answers), `/readyz` (ready to serve: for an
 * agent, OVS and the store connected and the first full sync on the switch; standalone, the store answers) and
 * `/metrics` (Prometheus text format, prom-client). The two probes are unauthenticated and say only "ok" or
 * "not ready"; details are in the authenticated `/v1/agent/ready`. `/metrics` follows the API's authentication.
 */
import type { Store } from '../store/types.js';
import { VERSION } from '../version.js';
import type { Router } from './http.js';
import { registerProcessMetrics } from './process-metrics.js';
import { Gauge, Registry } from './prom.js';

/** Paths served without a token or client certificate. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

/** A registry with the process metrics (CPU, memory, event-loop lag, start time) and `wyvern_build_info`. */
export function newRegistry(role: 'agent' | 'api'): Registry {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const info = new Gauge({
    name: 'wyvern_build_info',
    help: 'Version of this wyvern process (always 1)',
    labelNames: ['version', 'role'],
    registers: [registry],
  });
  info.set({ version: VERSION, role }, 1);
  return registry;
}

/** Ready while the store answers a revision read within a second (standalone `wyvern api`). */
export function storeAnswers(store: Store, timeoutMs = 1000): () => Promise<boolean> {
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        store.currentRevision().then(() => true),
        new Promise<boolean>((done) => (timer = setTimeout(() => done(false), timeoutMs))),
      ]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  };
}

export interface RequestMetrics {
  observe(method: string, route: string, status: number, seconds: number): void;
}

/** One (method, route, status) series: its request count, and its durations' bucket counts and sum. */
interface Series {
  labels: { method: string; route: string; code: string };
  count: number;
  sum: number;
  /** Observations at or below each bound (not cumulative; the exposition sums them). */
  buckets: number[];
}

const DURATION_BOUNDS = [0.001, 0.005, 0.025, 0.1, 0.5, 2.5];

/**
 * `wyvern_api_requests_total` and `wyvern_api_request_duration_seconds`, by method, route pattern and status.
 * Counted in plain numbers per series and put in Prometheus form only when scraped: prom-client's own Counter and
 * Histogram validate and hash the labels on every inc/observe, ~4 % of a small request's CPU (issue 17). The two
 * are registered as metrics of the registry (prom-client's metric interface: name, help, type, get, reset), so
 * /metrics shows them exactly as before.
 */
export function requestMetrics(registry: Registry): RequestMetrics {
  const series = new Map<string, Series>();
  const all = (): Series[] => [...series.values()];
  const metric = (name: string, help: string, type: 'counter' | 'histogram', values: () => unknown[]) => ({
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
    reset: () => series.clear(),
  });
  registry.registerMetric(
    metric('wyvern_api_requests_total', 'API requests answered', 'counter', () =>
      all().map((s) => ({ labels: s.labels, value: s.count })),
    ) as never,
  );
  registry.registerMetric(
    metric('wyvern_api_request_duration_seconds', 'Time to answer an API request', 'histogram', () =>
      all().flatMap((s) => {
        let acc = 0;
        const buckets = DURATION_BOUNDS.map((le, i) => {
          acc += s.buckets[i]!;
          return { metricName: 'wyvern_api_request_duration_seconds_bucket', labels: { ...s.labels, le }, value: acc };
        });
        return [
          ...buckets,
          { metricName: 'wyvern_api_request_duration_seconds_bucket', labels: { ...s.labels, le: '+Inf' }, value: s.count },
          { metricName: 'wyvern_api_request_duration_seconds_sum', labels: s.labels, value: s.sum },
          { metricName: 'wyvern_api_request_duration_seconds_count', labels: s.labels, value: s.count },
        ];
      }),
    ) as never,
  );
  return {
    observe(method, route, status, seconds) {
      const k = `${method} ${route} ${status}`;
      let s = series.get(k);
      if (!s)
        series.set(k, (s = { labels: { method, route, code: String(status) }, count: 0, sum: 0, buckets: DURATION_BOUNDS.map(() => 0) }));
      s.count++;
      s.sum += seconds;
      const i = DURATION_BOUNDS.findIndex((b) => seconds <= b);
      if (i >= 0) s.buckets[i]!++;
    },
  };
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };

export function addProbeRoutes(r: Router, registry: Registry, ready: () => boolean | Promise<boolean>): void {
  r.add('GET', '/healthz', () => ({ status: 200, text: 'ok\n', headers: TEXT }));
  r.add('GET', '/readyz', async () =>
    (await ready()) ? { status: 200, text: 'ok\n', headers: TEXT } : { status: 503, text: 'not ready\n', headers: TEXT },
  );
  r.add('GET', '/metrics', async () => ({
    status: 200,
    text: await registry.metrics(),
    headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' },
  }));
}
