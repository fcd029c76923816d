import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { requestMetrics } from '../../src/api/health.js';

/** Lines sorted, and the labels inside each line sorted: the exposition up to order. */
const norm = (t: string): string =>
  t
    .split('\n')
    .map((line) => line.replace(/\{([^}]*)\}/, (_, x: string) => `{${x.split(',').sort().join(',')}}`))
    .sort()
    .join('\n');

describe('API request metrics', () => {
  it('expose exactly what prom-client Counter and Histogram would for the same requests', async () => {
    const seen: [string, string, number, number][] = [
      ['POST', '/v1/ports', 201, 0.0004],
      ['POST', '/v1/ports', 201, 0.001],
      ['POST', '/v1/ports', 201, 0.003],
      ['POST', '/v1/ports', 201, 3],
      ['GET', 'unmatched', 401, 0.02],
      ['POST', '/v1/ports', 409, 0.3],
    ];
    const reference = new Registry();
    const labelNames = ['method', 'route', 'code'];
    const c = new Counter({ name: 'wyvern_api_requests_total', help: 'API requests answered', labelNames, registers: [reference] });
    const h = new Histogram({
      name: 'wyvern_api_request_duration_seconds',
      help: 'Time to answer an API request',
      labelNames,
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 2.5],
      registers: [reference],
    });
    for (const [method, route, code, v] of seen) {
      c.inc({ method, route, code: String(code) });
      h.observe({ method, route, code: String(code) }, v);
    }
    const ours = new Registry();
    const m = requestMetrics(ours);
    for (const [method, route, code, v] of seen) m.observe(method, route, code, v);
    expect(norm(await ours.metrics())).toBe(norm(await reference.metrics()));
    // JSON form too (what an aggregating registry reads), and reset empties both.
    expect((await ours.getMetricsAsJSON()).map((x) => x.name)).toEqual([
      'wyvern_api_requests_total',
      'wyvern_api_request_duration_seconds',
    ]);
    ours.resetMetrics();
    expect(await ours.metrics()).not.toMatch(/wyvern_api_requests_total\{/);
  });
});
