/**
 * Issue 15 part 3 on real OVS, real etcd and a real agent process: /metrics parsed with a Prometheus text-format
 * parser (not a regex) has every family with its type, and its counters move as traffic flows (a VM plugs, leases
 * an address over DHCP); /healthz is always 200; /readyz is 503 before the first full sync and while
 * ovs-vswitchd or the store is down, 200 otherwise; both answer without the token the API (and /metrics) then require.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_ENV, AGENT_ENV_REMOVED, AGENT_NODE_FLAGS } from '../../src/agent/node-flags.js';
import { agentOf } from '../../src/sandbox/agents.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { Scrape } from '../helpers/prom.js';

const TOKEN = 'metrics-test-token';

async function get(url: string, path: string, token?: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`${url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: r.status, text: await r.text() };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

describe('agent /metrics, /healthz, /readyz (real OVS, etcd, agent process)', () => {
  let c: Cluster;
  let port: PortInfo;
  const url = () => agentOf(c.sb.host('hv1'))!.api;
  const scrape = async (token?: string) => {
    const r = await get(url(), '/metrics', token);
    expect(r.status).toBe(200);
    return new Scrape(r.text);
  };

  beforeAll(async () => {
    // As an operator's environment may have it; the sandbox takes it out of the agent's, as the launcher does.
    process.env.NODE_EXTRA_CA_CERTS ??= '/etc/ssl/certs/ca-certificates.crt';
    c = await Cluster.up({ hosts: 1, agents: false });
  });
  afterAll(async () => {
    await c?.down();
  });

  it('readyz is 503 before the first full sync (ovs-vswitchd absent) and 200 once it is on the switch', async () => {
    await c.sb.hostStop('hv1', { daemons: ['ovs-vswitchd'] });
    // A low heap-trim threshold, so that a burst this test can afford is trimmed (heap-trim.ts; default 8 MB).
    await c.startAgent('hv1', { env: { WYVERN_HEAP_TRIM_MB: '2' } }); // resolves once its API listens
    expect(await get(url(), '/healthz')).toEqual({ status: 200, text: 'ok\n' });
    expect(await get(url(), '/readyz')).toEqual({ status: 503, text: 'not ready\n' });
    const before = await scrape();
    expect(before.value('wyvern_ready')).toBe(0);
    expect(before.value('wyvern_openflow_connected')).toBe(0);
    expect(before.value('wyvern_ovsdb_connected')).toBe(1);
    expect(before.value('wyvern_store_connected')).toBe(1);
    await c.sb.hostStart('hv1');
    const ms = await until('readyz 200', async () => (await get(url(), '/readyz')).status === 200);
    console.log(`# readyz 200 ${ms} ms after ovs-vswitchd started`);
    const after = await scrape();
    expect(after.value('wyvern_ready')).toBe(1);
    expect(after.value('wyvern_openflow_connected')).toBe(1);
    expect(after.value('wyvern_openflow_sessions_total')).toBeGreaterThanOrEqual(1);
  });

  it('the sandbox runs the agent bundle with its V8 settings (src/agent/node-flags.ts) and its code cache, and V8 applies them', async () => {
    const pid = agentOf(c.sb.host('hv1'))!.pid;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    for (const flag of AGENT_NODE_FLAGS) expect(argv).toContain(flag);
    // As the package's launcher runs it: the bundle's boot, whose code cache V8 accepted (the start timeline says so).
    expect(argv.find((a) => !a.startsWith('-') && a !== argv[0])).toMatch(/\/dist\/agent\/boot\.cjs$/);
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    for (const [k, v] of Object.entries(AGENT_ENV)) expect(environ).toContain(`${k}=${v}`);
    for (const k of AGENT_ENV_REMOVED) expect(environ.filter((e) => e.startsWith(`${k}=`))).toEqual([]);
    const timeline = readFileSync(join(c.sb.runDir, 'hv1', 'agent.log'), 'utf8')
      .split('\n')
      .find((l) => l.includes('start timeline'));
    expect(Object.keys((JSON.parse(timeline!) as { ms: Record<string, number> }).ms)).toContain(
      'bundle compiled and evaluated (code cache used)',
    );
    // --max-semi-space-size=1: the young generation stays at two 1 MiB semi-spaces (V8's default lets it grow to 16).
    expect((await scrape()).value('nodejs_heap_space_size_total_bytes', { space: 'new' })).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it("a burst's heap is given back once the agent is quiet (heap-trim.ts)", async () => {
    const log = join(c.sb.runDir, 'hv1', 'agent.log');
    const trims = () =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.includes('heap trimmed after the burst'))
        .map((l) => JSON.parse(l) as { before_mb: number; after_mb: number });
    // The start's own trim came first, at the agent's first quiet moment.
    await until('a heap trim after the start', async () => readFileSync(log, 'utf8').includes('heap trimmed after the start'));
    const before = trims().length;
    // A burst through this agent's own API: 300 ports created, 16 at a time.
    const net = await c.network('burst', '10.78.0.0/22');
    const api = c.api('hv1');
    const names = Array.from({ length: 300 }, (_, i) => `burst-${i}`);
    for (let i = 0; i < names.length; i += 16)
      await Promise.all(names.slice(i, i + 16).map((name) => api.call('POST', '/v1/ports', { name, network: 'burst' })));
    await until('a heap trim after the burst', async () => trims().length > before, 20_000);
    const t = trims().at(-1)!;
    console.log(`# heap trimmed after 300 API creations: ${t.before_mb} → ${t.after_mb} MB committed`);
    expect(t.after_mb).toBeLessThan(t.before_mb);
    for (let i = 0; i < names.length; i += 16)
      await Promise.all(names.slice(i, i + 16).map((name) => api.call('DELETE', `/v1/ports/${name}`)));
    await api.call('DELETE', `/v1/subnets/${net.subnetId}`);
    await api.call('DELETE', '/v1/networks/burst');
  });

  it('every family is there with its type; flows per table and app add up to what the switch holds', async () => {
    const s = await scrape();
    const types: Record<string, string> = {
      wyvern_build_info: 'GAUGE',
      wyvern_flows: 'GAUGE',
      wyvern_bundle_apply_seconds: 'HISTOGRAM',
      wyvern_port_install_seconds: 'HISTOGRAM',
      wyvern_packet_in_total: 'COUNTER',
      wyvern_dhcp_replies_total: 'COUNTER',
      wyvern_store_watch_lag_seconds: 'HISTOGRAM',
      wyvern_store_watch_events_total: 'COUNTER',
      wyvern_store_reconnects_total: 'COUNTER',
      wyvern_store_connected: 'GAUGE',
      wyvern_ovsdb_connected: 'GAUGE',
      wyvern_openflow_connected: 'GAUGE',
      wyvern_chassis_seen: 'GAUGE',
      wyvern_api_requests_total: 'COUNTER',
      process_resident_memory_bytes: 'GAUGE',
    };
    for (const [name, type] of Object.entries(types)) expect(s.family(name).type, name).toBe(type);
    expect(s.value('wyvern_chassis_seen')).toBe(1);
    expect(s.count('wyvern_bundle_apply_seconds')).toBeGreaterThanOrEqual(1);
    // Miss flows belong to the pipeline; each series is labelled with a declared table name.
    const flows = s.family('wyvern_flows').metrics;
    expect(flows.find((m) => m.labels?.table === 'classifier' && m.labels.app === 'pipeline')).toBeDefined();
    const status = await c.agentStatus('hv1');
    expect(s.sum('wyvern_flows')).toBe(status.flows.installed);
    expect(status.version).toBe('0.1.0');
    expect(status.uptimeSeconds).toBeGreaterThanOrEqual(0);
  });

  it('counters move as a VM plugs and leases its address over DHCP', async () => {
    const s0 = await scrape();
    await c.network('mnet', '10.77.0.0/24', { dhcp: true });
    port = await c.port('mvm', 'mnet');
    await c.sb.addVm('hv1', 'mvm', { portId: port.name, mac: port.mac, dhcp: true });
    await c.waitInstalled('mvm');
    const lease = await c.sb.dhcp('mvm');
    expect(lease.ip).toBe(port.ip);
    const s1 = await scrape();
    expect(s1.count('wyvern_port_install_seconds')).toBe(s0.count('wyvern_port_install_seconds') + 1);
    expect(s1.count('wyvern_bundle_apply_seconds')).toBeGreaterThan(s0.count('wyvern_bundle_apply_seconds'));
    expect(s1.value('wyvern_dhcp_replies_total', { type: 'OFFER' })).toBe(s0.value('wyvern_dhcp_replies_total', { type: 'OFFER' }) + 1);
    expect(s1.value('wyvern_dhcp_replies_total', { type: 'ACK' })).toBe(s0.value('wyvern_dhcp_replies_total', { type: 'ACK' }) + 1);
    const handled = (s: Scrape) => s.value('wyvern_packet_in_total', { app: 'dhcp', outcome: 'handled' });
    expect(handled(s1)).toBeGreaterThanOrEqual(handled(s0) + 2);
    // The binding this agent wrote came back through its watch: one watch lag observation at least.
    expect(s1.count('wyvern_store_watch_lag_seconds')).toBeGreaterThan(s0.count('wyvern_store_watch_lag_seconds'));
    expect(s1.sum('wyvern_store_watch_events_total')).toBeGreaterThan(s0.sum('wyvern_store_watch_events_total'));
    expect(s1.sum('wyvern_flows', { table: 'dhcp', app: 'dhcp' })).toBeGreaterThanOrEqual(1);
    expect(s1.value('wyvern_ports_bound')).toBe(1);
    const status = await c.agentStatus('hv1');
    expect(s1.value('wyvern_dhcp_replies_total', { type: 'ACK' })).toBe(status.dhcp.replies.ACK);
  });

  it('readyz is 503 while ovs-vswitchd is down and 200 when it is back; healthz stays 200', async () => {
    await c.sb.hostStop('hv1', { daemons: ['ovs-vswitchd'] });
    await until('readyz 503', async () => (await get(url(), '/readyz')).status === 503);
    expect((await get(url(), '/healthz')).status).toBe(200);
    expect((await scrape()).value('wyvern_openflow_connected')).toBe(0);
    await c.sb.hostStart('hv1');
    await until('readyz 200', async () => (await get(url(), '/readyz')).status === 200);
  });

  it('readyz is 503 while the store is down; the reconnect is counted and the watches come back', async () => {
    const s0 = await scrape();
    await c.etcd.members[0]!.kill();
    try {
      await until('readyz 503', async () => (await get(url(), '/readyz')).status === 503);
      expect((await get(url(), '/healthz')).status).toBe(200);
      expect((await scrape()).value('wyvern_store_connected')).toBe(0);
    } finally {
      await c.etcd.members[0]!.restart();
    }
    const ms = await until('readyz 200', async () => (await get(url(), '/readyz')).status === 200, 30_000);
    console.log(`# readyz 200 ${ms} ms after etcd restarted`);
    const s1 = await scrape();
    expect(s1.value('wyvern_store_connected')).toBe(1);
    expect(s1.value('wyvern_store_reconnects_total')).toBe(s0.value('wyvern_store_reconnects_total') + 1);
    // Each watch came back: its etcd stream resumed where it left off, or its prefix was re-read.
    await until(
      'watches re-established',
      async () => (await scrape()).value('wyvern_store_watch_reconnects_total') > s0.value('wyvern_store_watch_reconnects_total'),
    );
  });

  it('with a token: probes answer without it and say nothing; /metrics needs it', async () => {
    await c.stopAgent('hv1');
    await c.startAgent('hv1', { env: { WYVERN_API_TOKEN: TOKEN } });
    expect(await get(url(), '/healthz')).toEqual({ status: 200, text: 'ok\n' });
    await until('readyz 200', async () => (await get(url(), '/readyz')).status === 200);
    expect(await get(url(), '/readyz')).toEqual({ status: 200, text: 'ok\n' });
    expect((await get(url(), '/metrics')).status).toBe(401);
    expect((await get(url(), '/v1/agent/status')).status).toBe(401);
    const s = await scrape(TOKEN);
    expect(s.value('wyvern_ready')).toBe(1);
    // A restarted agent finds the VM already plugged and installed.
    expect(s.value('wyvern_ports_bound')).toBe(1);
  });
});
