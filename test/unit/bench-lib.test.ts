/** bench:agent's pure helpers: the anchor's output parser and the percentiles (nearest rank, as run.sh). */
import { describe, expect, it } from 'vitest';
import { parseMetricLines } from '../../bench/lib/anchor.js';
import { max, ms, p50, pct } from '../../bench/lib/stats.js';

describe('parseMetricLines', () => {
  it('reads metric lines and keeps # lines as notes', () => {
    const out = [
      '# ovn anchor 2026-11-21T22:27:32Z: OVN 23.03.1',
      '# port_ready samples (ms): 25.6 22.1',
      'port_ready_ms_p50 24.2 ms',
      'flows_per_hv 281 flows',
      'ovn_controller_rss_mb 9.5 MB',
      'not a metric line',
      '',
    ].join('\n');
    const r = parseMetricLines(out);
    expect([...r.metrics]).toEqual([
      ['port_ready_ms_p50', { value: 24.2, unit: 'ms' }],
      ['flows_per_hv', { value: 281, unit: 'flows' }],
      ['ovn_controller_rss_mb', { value: 9.5, unit: 'MB' }],
    ]);
    expect(r.notes).toHaveLength(2);
  });
});

describe('percentiles', () => {
  it("p50 is run.sh's v[int((n+1)/2)]", () => {
    expect(p50([25.6, 22.1, 29.5, 31.3, 22.9, 24.0, 24.2, 23.4, 25.7, 26.8])).toBe(24.2);
    expect(p50([3, 1, 2])).toBe(2);
    expect(p50([])).toBeNaN();
  });
  it('p99 of 40 samples is the largest; max; µs → ms', () => {
    const xs = Array.from({ length: 40 }, (_, i) => i + 1);
    expect(pct(xs, 99)).toBe(40);
    expect(pct(xs, 50)).toBe(20);
    expect(max(xs)).toBe(40);
    expect(ms(12_345)).toBe(12.3);
  });
});
