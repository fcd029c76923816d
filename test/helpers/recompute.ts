/**
 * The agent's consistency check, as tests assert it: on each host, flows computed incrementally equal a full
 * recompute, and both equal what is on the switch (POST /v1/agent/recompute).
 */
import { expect } from 'vitest';
import type { Cluster } from './cluster.js';

const CLEAN = { equal: true, missing: [], extra: [], different: [] };

export async function expectRecomputeEqual(c: Cluster, hosts: Iterable<string>): Promise<void> {
  for (const h of hosts) {
    const r = (await c.api(h).call('POST', '/v1/agent/recompute')) as Record<string, unknown>;
    expect(r.incremental, `${h}: ${JSON.stringify(r.incremental).slice(0, 1500)}`).toEqual(CLEAN);
    expect(r.switch, `${h}: ${JSON.stringify(r.switch).slice(0, 1500)}`).toEqual(CLEAN);
  }
}
