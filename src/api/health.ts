/**
 * Probes and metrics beside the REST API: `/healthz` (the process answers), `/readyz` (ready to serve: for an
 * agent, OVS and the store connected and the first full sync on the switch; standalone, the store answers) and
 * `/metrics` (Prometheus text format, prom-client). The two probes are unauthenticated and say only "ok" or
 * "not ready"; details are in the authenticated `/v1/agent/ready`. `/metrics` follows the API's authentication.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from '../store/types.js';
import { VERSION } from '../version.js';
import type { Router } from './http.js';

/** Paths served without a token or client certificate. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

/** A registry with the process metrics (CPU, memory, event-loop lag, start time) and `wyvern_build_info`. */
export function newRegistry(role: 'agent' | 'api'): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
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

/** `wyvern_api_requests_total` and `wyvern_api_request_duration_seconds`, by method, route pattern and status. */
export function requestMetrics(registry: Registry): RequestMetrics {
  const labelNames = ['method', 'route', 'code'] as const;
  const count = new Counter({ name: 'wyvern_api_requests_total', help: 'API requests answered', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: 'wyvern_api_request_duration_seconds',
    help: 'Time to answer an API request',
    labelNames,
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 2.5],
    registers: [registry],
  });
  // The labelled series of each (method, route, status), looked up once: prom-client hashes the labels on every
  // inc/observe otherwise. Few entries (route patterns, not paths).
  const series = new Map<string, { inc(): void; observe(s: number): void }>();
  return {
    observe(method, route, status, seconds) {
      const k = `${method} ${route} ${status}`;
      let one = series.get(k);
      if (!one) {
        const c = count.labels(method, route, String(status));
        const d = duration.labels(method, route, String(status));
        series.set(k, (one = { inc: () => c.inc(), observe: (v) => d.observe(v) }));
      }
      one.inc();
      one.observe(seconds);
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
