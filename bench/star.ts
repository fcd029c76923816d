/**
 * npm run bench:star — issue 16's star networks and sites, measured against references taken in the same run.
 *
 *   1. Flows per host for a 20-host network (one VM per host), mesh against star (a spoke, the center), computed by
 *      the real apps and FlowComputer on synthetic views; and the tunnel count (host pairs joined by a tunnel for
 *      one network): a mesh needs N(N-1)/2, XO's star N-1 — wyvern's star the same N-1, and since its tunnels are
 *      flow-based (one OVS port per encapsulation per host, remote_ip=flow), zero tunnel ports to create or delete
 *      when the center moves.
 *   2. Relay cost on a 4-host sandbox (real OVS, etcd, agents): RTT (ping p50) and iperf3 throughput between VMs on
 *      hv2 and hv3, through a star network's center (hv1) and over a mesh network's direct tunnel, same hosts, same
 *      run; reported as star / mesh ratios.
 *   3. Star center failover: `ping -i 0.05` spoke -> spoke while the center's chassis dies (agent SIGKILL, OVS
 *      stopped); outage = the longest gap between replies, printed beside the lease TTL.
 *   4. Site gateway failover: two sites (paris hv1..hv3, candidates hv1 hv2; lyon hv4 hv5, candidates both), the
 *      underlay joining them only between candidates; `ping -i 0.05` from hv3 to hv5 while paris's gateway dies.
 * Environment: LEASE_TTL(3) STEADY(200) IPERF_S(5) HOSTS_FLOWS(20) PARTS(flows,relay,center,site) LOG_LEVEL(warn).
 */
import { ApiClient } from '../src/api/client.js';
import { APPS } from '../src/apps/index.js';
import { FlowComputer } from '../src/agent/compute.js';
import { FlowManager } from '../src/flows/manager.js';
import { loadPipeline } from '../src/pipeline/pipeline.js';
import { PipelineTables } from '../src/pipeline/tables.js';
import { agentOf, startAgent, stopAgent } from '../src/sandbox/agents.js';
import { Sandbox } from '../src/sandbox/index.js';
import { execCmd } from '../src/sandbox/run.js';
import type { Network, Port } from '../src/model/types.js';
import { TopologyView } from '../src/view/topology-view.js';
import { startEtcd, type EtcdCluster } from '../test/helpers/etcd.js';
import { FakeSwitch } from '../test/helpers/fake-switch.js';
import { outage, pingFromNetns, until } from '../test/helpers/ping-run.js';
import { p50, sleep } from './lib/stats.js';
import { iperf } from './lib/traffic.js';

const env = process.env;
const LEASE_TTL = Number(env.LEASE_TTL ?? 3);
const STEADY = Number(env.STEADY ?? 200);
const IPERF_S = Number(env.IPERF_S ?? 5);
const HOSTS_FLOWS = Number(env.HOSTS_FLOWS ?? 20);
const PARTS = new Set((env.PARTS ?? 'flows,relay,center,site').split(','));
const LOG_LEVEL = env.LOG_LEVEL ?? 'warn';
const log = (...a: unknown[]) => console.log(`# ${new Date().toISOString().slice(11, 23)} `, ...a);
const results: [string, string, string][] = [];
const row = (metric: string, value: string, reference: string) => results.push([metric, value, reference]);

/** Part 1: flows per host, computed. */
function flowCounts(): void {
  const tables = new PipelineTables(loadPipeline());
  const names = Array.from({ length: HOSTS_FLOWS }, (_, i) => `hv${i + 1}`);
  const count = (me: string, topology: Network['topology']) => {
    const v = new TopologyView(me, 'vxlan');
    v.tunnelOfport = 100;
    names.forEach((n, i) => v.chassis.set(n, { name: n, tunnelIp: `172.31.${i >> 8}.${(i & 0xff) + 1}`, encaps: ['vxlan'], version: 'b' }));
    const ports = new Map<string, { port: Port; binding: { chassis: string; updatedAt: string } }>();
    names.forEach((n, i) => {
      const mac = `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
      const port: Port = {
        id: `p${i}`,
        name: `vm${i}`,
        networkId: 'n1',
        mac,
        fixedIps: [],
        portSecurity: false,
        allowedAddressPairs: [],
        securityGroups: [],
        portKey: i + 1,
      };
      ports.set(port.id, { port, binding: { chassis: n, updatedAt: '' } });
      if (n === me) v.plugVif({ ifaceName: `tap${i}`, ofport: i + 1, ifaceId: port.name });
    });
    v.networks.set('n1', {
      network: { id: 'n1', name: 'n1', tunnelKey: 1, mtu: 1400, ...(topology ? { topology } : {}) },
      subnets: new Map(),
      ports,
    });
    v.centers.set('n1', { networkId: 'n1', chassis: 'hv1', since: '' });
    const fc = new FlowComputer(tables, APPS, v, new FlowManager(new FakeSwitch()));
    const flows = fc.fullRecompute();
    const tunnelPeers = new Set<string>();
    for (const f of flows)
      for (const ins of f.instructions)
        if (ins.type === 'apply_actions')
          for (const a of ins.actions) if (a.type === 'set_field' && a.field === 'tun_ipv4_dst') tunnelPeers.add(String(a.value));
    return { flows: flows.length, peers: tunnelPeers.size };
  };
  const mesh = count('hv2', 'mesh');
  const spoke = count('hv2', 'star');
  const center = count('hv1', 'star');
  const n = HOSTS_FLOWS;
  log(`flows per host, ${n} hosts: mesh ${mesh.flows}, star spoke ${spoke.flows}, star center ${center.flows}`);
  row(`flows per host, ${n}-host mesh`, String(mesh.flows), '(reference)');
  row(`flows per host, ${n}-host star, spoke`, String(spoke.flows), `${(spoke.flows / mesh.flows).toFixed(2)} x mesh`);
  row(`flows per host, ${n}-host star, center`, String(center.flows), `${(center.flows / mesh.flows).toFixed(2)} x mesh`);
  row(
    `tunnel peers of a host, mesh / star spoke / star center`,
    `${mesh.peers} / ${spoke.peers} / ${center.peers}`,
    `${n - 1} / 1 / ${n - 1}`,
  );
  row(
    `tunnels (host pairs) for one ${n}-host network`,
    `mesh ${(n * (n - 1)) / 2}, star ${n - 1}`,
    `XO's star: ${n - 1} (its OVS tunnel ports rebuilt on a center change; wyvern: 0 ports, flows only)`,
  );
}

interface Lab {
  sb: Sandbox;
  etcd: EtcdCluster;
  api: (host?: string) => ApiClient;
  ips: Record<string, string>;
}

/** A sandbox with etcd, agents (lease TTL, sites) and VMs on the networks given. */
async function lab(
  hosts: number,
  sites: Record<string, string>,
  nets: { name: string; cidr: string; star?: string[] }[],
  vms: [string, string, string][],
): Promise<Lab> {
  const sb = await Sandbox.up({ hosts, encap: 'vxlan' });
  const etcd = await startEtcd();
  const api = (host?: string) => new ApiClient(agentOf(sb.hosts.find((h) => (host ? h.name === host : agentOf(h)))!)!.api);
  const ips: Record<string, string> = {};
  try {
    await Promise.all(
      sb.hosts.map((h) =>
        startAgent(sb, h.name, {
          store: etcd.url,
          lazySync: true,
          logLevel: LOG_LEVEL,
          // A flag, not WYVERN_LEASE_TTL: the sandbox starts agents with --lease-ttl-seconds 5, which the env would not override.
          args: ['--lease-ttl-seconds', String(LEASE_TTL)],
          ...(sites[h.name] ? { env: { WYVERN_SITE: sites[h.name]! } } : {}),
        }),
      ),
    );
    for (const n of nets) {
      await api().call('POST', '/v1/networks', { name: n.name, mtu: 1400, ...(n.star ? { topology: 'star', centers: n.star } : {}) });
      await api().call('POST', '/v1/subnets', { name: `${n.name}-s`, network: n.name, cidr: n.cidr, enableDhcp: false });
    }
    for (const [vm, host, net] of vms) {
      const p = (await api().call('POST', '/v1/ports', { name: vm, network: net })) as { mac: string; fixedIps: { ip: string }[] };
      ips[vm] = p.fixedIps[0]!.ip;
      await sb.addVm(host, vm, { portId: vm, mac: p.mac, ip: `${ips[vm]}/24` });
    }
    return { sb, etcd, api, ips };
  } catch (err) {
    await sb.down().catch(() => undefined);
    await etcd.stop();
    throw err;
  }
}

async function rtt(sb: Sandbox, from: string, ip: string): Promise<number> {
  await until(async () => (await sb.exec(from, ['ping', '-c1', '-W1', '-n', ip])).code === 0, 15_000, `${from} -> ${ip}`);
  await sb.exec(from, ['ping', '-n', '-q', '-c', '5', '-i', '0.05', ip]);
  const r = await sb.exec(from, ['ping', '-n', '-c', String(STEADY), '-i', '0.01', ip], 120_000);
  const t = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (t.length < STEADY * 0.95) throw new Error(`${from} -> ${ip}: ${STEADY - t.length} of ${STEADY} lost`);
  return p50(t);
}

/** Pings `ip` from `vm` every 50 ms, kills `host` (agent and OVS), and returns the longest gap in replies (ms). */
async function failoverOutage(l: Lab, vm: string, ip: string, host: string): Promise<number> {
  const run = pingFromNetns(l.sb.vm(vm).netns, ip);
  await until(() => run.replies.length > 10, 10_000, 'pings answer');
  const t0 = Date.now();
  await kill(l, host);
  const n = run.replies.length;
  await until(() => run.replies.length > n + 10, 30_000, 'pings answer again');
  await sleep(500);
  await run.stop();
  return outage(run.replies, t0, Number.POSITIVE_INFINITY);
}

/** A failover outage beside the lease TTL and its target (TTL + 1 s). */
function failoverRow(metric: string, gap: number): void {
  const target = (LEASE_TTL + 1) * 1000;
  row(metric, gap.toFixed(0), `lease TTL ${LEASE_TTL} s (target TTL + 1 s = ${target} ms): x${(gap / target).toFixed(2)}`);
}

async function kill(l: Lab, host: string): Promise<void> {
  await stopAgent(l.sb, host, 'SIGKILL');
  await l.sb.hostStop(host);
}

async function centerOf(l: Lab, net: string, asked: string): Promise<string | null> {
  const t = (await l.api(asked).call('GET', `/v1/networks/${net}/topology`)) as { center: { chassis: string } | null };
  return t.center?.chassis ?? null;
}

/** Parts 2 and 3 on one sandbox: relay cost, then the center's failover. */
async function starParts(): Promise<void> {
  const l = await lab(
    4,
    {},
    [
      { name: 'm', cidr: '10.20.0.0/24' },
      { name: 's', cidr: '10.21.0.0/24', star: ['hv1', 'hv4'] },
    ],
    [
      ['m2', 'hv2', 'm'],
      ['m3', 'hv3', 'm'],
      ['s1', 'hv1', 's'],
      ['s2', 'hv2', 's'],
      ['s3', 'hv3', 's'],
      ['s4', 'hv4', 's'],
    ],
  );
  try {
    await until(async () => (await centerOf(l, 's', 'hv2')) === 'hv1', 20_000, 'hv1 the center');
    if (PARTS.has('relay')) {
      const direct = await rtt(l.sb, 'm2', l.ips.m3!);
      const relayed = await rtt(l.sb, 's2', l.ips.s3!);
      log(`RTT p50: mesh direct ${direct} ms, star through the center ${relayed} ms`);
      row(
        'RTT p50, hv2 -> hv3 through the star center (ms)',
        String(relayed),
        `mesh direct ${direct} ms: x${(relayed / direct).toFixed(2)}`,
      );
      const ns = (vm: string) => l.sb.vm(vm).netns;
      const gDirect = await iperf({ serverNs: ns('m3'), clientNs: ns('m2'), serverIp: l.ips.m3!, seconds: IPERF_S });
      const gRelayed = await iperf({ serverNs: ns('s3'), clientNs: ns('s2'), serverIp: l.ips.s3!, seconds: IPERF_S });
      log(`iperf3: mesh direct ${gDirect} Gbit/s, star through the center ${gRelayed} Gbit/s`);
      row(
        'iperf3, hv2 -> hv3 through the star center (Gbit/s)',
        String(gRelayed),
        `mesh direct ${gDirect} Gbit/s: x${(gRelayed / gDirect).toFixed(2)}`,
      );
    }
    if (PARTS.has('center')) {
      const gap = await failoverOutage(l, 's2', l.ips.s3!, 'hv1');
      const now = await centerOf(l, 's', 'hv2');
      log(`star center failover: outage ${gap.toFixed(0)} ms, new center ${now}, lease TTL ${LEASE_TTL} s`);
      failoverRow('star center failover outage (ms)', gap);
    }
  } finally {
    await l.sb.down().catch(() => undefined);
    await l.etcd.stop();
  }
}

/** Part 4: two sites, paris's gateway dies. */
async function siteParts(): Promise<void> {
  const sites = { hv1: 'paris', hv2: 'paris', hv3: 'paris', hv4: 'lyon', hv5: 'lyon' };
  const sb0 = { paris: ['hv1', 'hv2'], lyon: ['hv4', 'hv5'] };
  const l = await lab(
    5,
    sites,
    [{ name: 'w', cidr: '10.22.0.0/24' }],
    [
      ['w3', 'hv3', 'w'],
      ['w5', 'hv5', 'w'],
    ],
  );
  try {
    // Only candidates reach the other site in the underlay.
    for (const a of ['hv1', 'hv2', 'hv3'])
      for (const b of ['hv4', 'hv5']) if (!(sb0.paris.includes(a) && sb0.lyon.includes(b))) await l.sb.blockUnderlay(a, b);
    for (const [site, chassis] of Object.entries(sb0)) await l.api().call('PUT', `/v1/sites/${site}/gateway`, { chassis });
    const gw = async (site: string) =>
      ((await l.api('hv3').call('GET', `/v1/sites/${site}`)) as { gateway: { chassis: string } | null }).gateway?.chassis ?? null;
    await until(async () => (await gw('paris')) === 'hv1', 20_000, 'hv1 the paris gateway');
    await until(
      async () => (await execCmd(['ip', 'netns', 'exec', l.sb.vm('w3').netns, 'ping', '-c1', '-W1', '-n', l.ips.w5!])).code === 0,
      20_000,
      'w3 -> w5',
    );
    const gap = await failoverOutage(l, 'w3', l.ips.w5!, 'hv1');
    log(`site gateway failover: outage ${gap.toFixed(0)} ms, new gateway ${await gw('paris')}, lease TTL ${LEASE_TTL} s`);
    failoverRow('site gateway failover outage (ms)', gap);
  } finally {
    await l.sb.down().catch(() => undefined);
    await l.etcd.stop();
  }
}

async function main(): Promise<void> {
  if (PARTS.has('flows')) flowCounts();
  if (PARTS.has('relay') || PARTS.has('center')) await starParts();
  if (PARTS.has('site')) await siteParts();
  console.log('\n| metric | value | same-run reference |\n|---|---|---|');
  for (const [m, v, r] of results) console.log(`| ${m} | ${v} | ${r} |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
