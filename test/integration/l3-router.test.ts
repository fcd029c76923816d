/**
 * Issue 6's L3 proof on real OVS, real etcd and one agent per hypervisor: a distributed router in proactive
 * and in reactive mode, ICMP for router addresses (echo, time exceeded, unreachable), overlapping subnets
 * on two routers staying isolated, a static route through a VM that forwards, and lazy sync through routers.
 *
 * Topology (one cluster shared by every test):
 *   r1 (proactive): net1 10.1.0.0/24 ── net2 10.2.0.0/24     a1 @hv1 10.1.0.10, b3 @hv3 10.2.0.10,
 *                                                             rtr @hv2 10.2.0.5 (forwards to 10.9.0.0/24)
 *   r2 (reactive):  net3 10.1.0.0/24 ── net4 10.2.0.0/24     c1 @hv1 10.1.0.10, d3 @hv3 10.2.0.10,
 *                                                             bystanders d1 @hv1 (net4), c3 @hv3 (net3)
 *   net5 10.5.0.0/24 on no router                            e3 @hv3 10.5.0.10
 * The same addresses on both routers: an echo that reaches the wrong VM shows in that VM's ICMP counters.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { run } from '../../src/sandbox/run.js';

// A missing tool must fail the file, never skip it.
for (const tool of ['traceroute', 'ping', 'ip']) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'pipe' });
  } catch {
    throw new Error(`l3 e2e needs ${tool} installed (apt-get install ${tool === 'traceroute' ? 'traceroute' : 'iputils-ping iproute2'})`);
  }
}

let c: Cluster;
const ports: Record<string, PortInfo & { portKey: number }> = {};
const gw: Record<string, string> = {};
let behindNs: string | undefined;

async function port(name: string, network: string, ip: string, portSecurity = true): Promise<PortInfo & { portKey: number }> {
  const p = (await c.api().call('POST', '/v1/ports', { name, network, fixedIps: [{ ip }], portSecurity })) as {
    id: string;
    name: string;
    mac: string;
    networkId: string;
    portKey: number;
    fixedIps: { ip: string }[];
  };
  return (ports[name] = { id: p.id, name: p.name, mac: p.mac, ip: p.fixedIps[0]!.ip, networkId: p.networkId, portKey: p.portKey });
}

/** ICMP echo requests a VM's kernel has received (per network namespace). */
async function inEchos(vm: string): Promise<number> {
  const snmp = (await c.sb.exec(vm, ['cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Icmp:'));
  const names = snmp[0]!.split(/\s+/);
  const values = snmp[1]!.split(/\s+/);
  return Number(values[names.indexOf('InEchos')]);
}

/** Waits until `host`'s agent has an L2 flow for `mac` (it knows where that port lives). */
async function waitLocated(host: string, mac: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const flows = (await c.api(host).call('GET', '/v1/agent/flows')) as { table: string; flow: string }[];
    if (flows.some((f) => f.table === 'l2_lookup' && f.flow.includes(mac.toLowerCase()))) return;
    if (Date.now() > deadline) throw new Error(`${host} never located ${mac}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function dumpFlows(host: string): Promise<string> {
  const h = c.sb.host(host);
  return h.ovs.ofctl(['--names', '-O', 'OpenFlow13', 'dump-flows', h.ovs.mgmtSock()]);
}

beforeAll(async () => {
  c = await Cluster.up({ hosts: 3 });
  const api = c.api();
  for (const [name, cidr] of [
    ['net1', '10.1.0.0/24'],
    ['net2', '10.2.0.0/24'],
    ['net3', '10.1.0.0/24'],
    ['net4', '10.2.0.0/24'],
    ['net5', '10.5.0.0/24'],
  ])
    await c.network(name!, cidr!);
  for (const [r, mode, nets] of [
    ['r1', 'proactive', ['net1', 'net2']],
    ['r2', 'reactive', ['net3', 'net4']],
  ] as const) {
    await api.call('POST', '/v1/routers', { name: r, mode });
    for (const n of nets) {
      const router = (await api.call('POST', `/v1/routers/${r}/interfaces`, { subnet: `${n}-sub` })) as {
        interfaces: { ip: string; subnetId: string }[];
      };
      gw[n] = router.interfaces.at(-1)!.ip;
    }
  }
  gw.net5 = '10.5.0.1';
  await port('a1', 'net1', '10.1.0.10');
  await port('b3', 'net2', '10.2.0.10');
  await port('c1', 'net3', '10.1.0.10');
  await port('d3', 'net4', '10.2.0.10');
  await port('e3', 'net5', '10.5.0.10');
  // The static route's next hop forwards packets that are not its own: no port security on its port.
  await port('rtr', 'net2', '10.2.0.5', false);
  // Bystanders: hv1 also has a port on net4 and hv3 one on net3, so both keep watching those networks when
  // r2 no longer joins them (a stale routed flow would then still find its way).
  await port('d1', 'net4', '10.2.0.11');
  await port('c3', 'net3', '10.1.0.11');
  const place: [string, string, string][] = [
    ['hv1', 'd1', 'net4'],
    ['hv3', 'c3', 'net3'],
    ['hv1', 'a1', 'net1'],
    ['hv3', 'b3', 'net2'],
    ['hv1', 'c1', 'net3'],
    ['hv3', 'd3', 'net4'],
    ['hv3', 'e3', 'net5'],
    ['hv2', 'rtr', 'net2'],
  ];
  await Promise.all(place.map(([host, vm, net]) => c.vm(host, vm, ports[vm]!, 24, { gateway: gw[net]! })));
  // Every routed pair's hosts know where the other end lives before any first packet is sent.
  await Promise.all([
    waitLocated('hv1', ports.b3!.mac),
    waitLocated('hv1', ports.d3!.mac),
    waitLocated('hv3', ports.a1!.mac),
    waitLocated('hv3', ports.c1!.mac),
  ]);
});

afterAll(async () => {
  if (behindNs) await run(['ip', 'netns', 'del', behindNs]).catch(() => undefined);
  await c?.down();
});

describe.each([
  { mode: 'proactive', src: 'a1', dst: 'b3', router: 'r1', srcNet: 'net1', dstNet: 'net2' },
  { mode: 'reactive', src: 'c1', dst: 'd3', router: 'r2', srcNet: 'net3', dstNet: 'net4' },
])('distributed router, $mode', ({ mode, src, dst, srcNet, dstNet }) => {
  it('the very first packet to a new destination is delivered, both ways, across hosts (hv1 <-> hv3)', async () => {
    const before = await inEchos(dst);
    const l3Before = (await c.agentStatus('hv1')).l3.reactiveFlows as number;
    const r = await c.sb.exec(src, ['ping', '-c1', '-n', '-W3', ports[dst]!.ip]);
    expect(r.stdout).toMatch(/1 packets transmitted, 1 received/);
    expect(await inEchos(dst)).toBe(before + 1);
    // And back: the destination's own first packet towards the source.
    const back = await c.sb.exec(dst, ['ping', '-c3', '-n', '-i', '0.2', '-W3', ports[src]!.ip]);
    expect(back.stdout).toMatch(/3 packets transmitted, 3 received/);
    const l3After = (await c.agentStatus('hv1')).l3.reactiveFlows as number;
    if (mode === 'reactive') expect(l3After).toBeGreaterThan(l3Before);
    else expect(l3After).toBe(l3Before);
  });

  it('traceroute shows exactly one hop, the gateway, before the destination', async () => {
    const r = await c.sb.exec(src, ['traceroute', '-n', '-N', '1', '-q', '1', '-w', '2', '-m', '5', ports[dst]!.ip], 30_000);
    const hops = r.stdout
      .split('\n')
      .slice(1)
      .filter((l) => /^\s*\d+\s/.test(l))
      .map((l) => l.trim().split(/\s+/)[1]);
    expect(hops, r.stdout).toEqual([gw[srcNet], ports[dst]!.ip]);
  });

  it('the gateway answers ping, and so does the router address on the far subnet', async () => {
    for (const ip of [gw[srcNet]!, gw[dstNet]!]) {
      const r = await c.sb.exec(src, ['ping', '-c2', '-n', '-i', '0.2', '-W2', ip]);
      expect(r.stdout, ip).toMatch(/2 packets transmitted, 2 received/);
      expect(r.stdout).toMatch(new RegExp(`bytes from ${ip.replaceAll('.', '\\.')}: icmp_seq=1 ttl=`));
    }
  });

  it('a TTL=1 packet gets ICMP time exceeded from the gateway', async () => {
    const before = await inEchos(dst);
    const r = await c.sb.exec(src, ['ping', '-c1', '-n', '-t1', '-W2', ports[dst]!.ip]);
    expect(r.stdout).toMatch(new RegExp(`From ${gw[srcNet]!.replaceAll('.', '\\.')}.*Time to live exceeded`));
    expect(await inEchos(dst)).toBe(before);
  });

  it('a subnet on no router stays unreachable: unreachable from the gateway, never delivered', async () => {
    const before = await inEchos('e3');
    const r = await c.sb.exec(src, ['ping', '-c2', '-n', '-i', '0.3', '-W1', ports.e3!.ip]);
    expect(r.stdout).toMatch(/2 packets transmitted, 0 received/);
    expect(r.stdout).toMatch(new RegExp(`From ${gw[srcNet]!.replaceAll('.', '\\.')}.*Destination (Net|Host) Unreachable`));
    expect(await inEchos('e3')).toBe(before);
  });
});

describe('reactive router flows', () => {
  it('installs a flow with an idle timeout on the source host (and one for the reply on the far host)', async () => {
    const hv1 = await dumpFlows('hv1');
    const fwd = hv1
      .split('\n')
      .filter((l) => /table="?l3_router"?/.test(l) && /idle_timeout=\d+/.test(l) && l.includes('nw_dst=10.2.0.10'));
    expect(fwd.length, hv1).toBe(1);
    expect(fwd[0]).toMatch(/dec_ttl/);
    expect(fwd[0]).toContain(ports.d3!.mac.toLowerCase());
    const hv3 = await dumpFlows('hv3');
    const back = hv3.split('\n').filter((l) => /idle_timeout=\d+/.test(l) && l.includes('nw_dst=10.1.0.10'));
    expect(back.length, hv3).toBe(1);
    expect(back[0]).toContain(ports.c1!.mac.toLowerCase());
    // The proactive router needs no such flow: its per-host flows have no timeout.
    expect(hv1.split('\n').filter((l) => /idle_timeout/.test(l) && l.includes(ports.b3!.mac.toLowerCase()))).toEqual([]);
    expect(
      hv1.split('\n').some((l) => !/idle_timeout/.test(l) && l.includes('nw_dst=10.2.0.10') && l.includes(ports.b3!.mac.toLowerCase())),
    ).toBe(true);
  });
});

describe('ICMP from the router is rate-limited', () => {
  it('a ping flood at the gateway gets at most the per-port PACKET_IN budget answered; the agent stays healthy', async () => {
    // The sandbox agents run with the defaults: --packet-in-rate 100 --packet-in-burst 200 per port.
    const s0 = await c.agentStatus('hv1');
    const r = await c.sb.exec('a1', ['ping', '-n', '-q', '-i', '0.0005', '-c', '1500', '-W', '1', gw.net1!], 30_000);
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const s1 = await c.agentStatus('hv1');
    const limited = s1.packetIn.rateLimited - s0.packetIn.rateLimited;
    const answered = s1.l3.echoReplies - s0.l3.echoReplies;
    expect(limited).toBeGreaterThan(0);
    expect(Number(m![2])).toBe(answered);
    expect(answered).toBeLessThan(1500);
    // Budget: 200 burst + 100/s over the flood's duration (generous bound for a loaded machine).
    expect(answered).toBeLessThanOrEqual(200 + 100 * 10);
    // Other ports' budgets are untouched: c1 (same host) still gets its gateway and routed pings answered.
    expect(await c.ping('c1', gw.net3!, 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 1_000)); // a1's bucket refills
    expect(await c.ping('a1', gw.net1!, 1)).toBe(true);
  });
});

describe('isolation and static routes', () => {
  it('two routers with the same subnets stay isolated: each echo lands only in its own network', async () => {
    for (const [src, mine, other] of [
      ['a1', 'b3', 'd3'],
      ['c1', 'd3', 'b3'],
    ] as const) {
      const [m0, o0] = [await inEchos(mine), await inEchos(other)];
      const r = await c.sb.exec(src, ['ping', '-c3', '-n', '-i', '0.2', '-W2', '10.2.0.10']);
      expect(r.stdout, `${src}`).toMatch(/3 packets transmitted, 3 received/);
      expect(await inEchos(mine)).toBe(m0 + 3);
      expect(await inEchos(other)).toBe(o0);
    }
  });

  it('a static route sends a prefix through a VM that forwards (ip_forward) to a network behind it', async () => {
    const rtrNs = c.sb.vm('rtr').netns;
    behindNs = `${c.sb.prefix}-l3bh`;
    await run(['ip', 'netns', 'add', behindNs]);
    await run(['ip', '-n', rtrNs, 'link', 'add', 'bh0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', behindNs]);
    await run(['ip', '-n', rtrNs, 'addr', 'add', '10.9.0.1/24', 'dev', 'bh0']);
    await run(['ip', '-n', rtrNs, 'link', 'set', 'bh0', 'up']);
    await run(['ip', 'netns', 'exec', rtrNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await run(['ip', '-n', behindNs, 'addr', 'add', '10.9.0.2/24', 'dev', 'eth0']);
    await run(['ip', '-n', behindNs, 'link', 'set', 'eth0', 'up']);
    await run(['ip', '-n', behindNs, 'link', 'set', 'lo', 'up']);
    await run(['ip', '-n', behindNs, 'route', 'add', 'default', 'via', '10.9.0.1']);

    // Without the route the router has nowhere to send 10.9.0.2.
    expect(await c.ping('a1', '10.9.0.2', 1)).toBe(false);
    await c.api().call('POST', '/v1/routers/r1/routes', { cidr: '10.9.0.0/24', nexthop: ports.rtr!.ip });
    expect(await c.pingUntil('a1', '10.9.0.2', 5_000)).toBeGreaterThanOrEqual(0);
    // Two routed hops now: the gateway, the forwarding VM, then the destination.
    const tr = await c.sb.exec('a1', ['traceroute', '-n', '-N', '1', '-q', '1', '-w', '2', '-m', '5', '10.9.0.2'], 30_000);
    const hops = tr.stdout
      .split('\n')
      .slice(1)
      .filter((l) => /^\s*\d+\s/.test(l))
      .map((l) => l.trim().split(/\s+/)[1]);
    expect(hops, tr.stdout).toEqual([gw.net1, ports.rtr!.ip, '10.9.0.2']);
  });
});

describe('lazy sync through routers', () => {
  const watched = async (host: string) => ((await c.agentStatus(host)).watchedNetworks as { name: string }[]).map((n) => n.name).sort();

  it('an agent watches the networks its networks reach through routers, and nothing else', async () => {
    // hv1 has ports in net1, net3 and net4 (d1); net2 comes through r1; net5 (no router) does not.
    expect(await watched('hv1')).toEqual(['net1', 'net2', 'net3', 'net4']);
    // hv2 has only rtr in net2: net1 through r1; net3/net4 (r2) are not its business.
    expect(await watched('hv2')).toEqual(['net1', 'net2']);
  });

  it('removing the router interface stops the watch and the routing', async () => {
    const api = c.api();
    await api.call('DELETE', `/v1/routers/r1/routes/${encodeURIComponent('10.9.0.0/24')}`);
    await api.call('DELETE', '/v1/routers/r1/interfaces/net2-sub');
    // Each agent drops what it no longer needs on its own watch event: wait for both (hv2 lagged hv1 once under a full
    // CI run's load), within a deadline that still catches one that never does.
    const deadline = Date.now() + 5_000;
    while (((await watched('hv1')).includes('net2') || (await watched('hv2')).includes('net1')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(await watched('hv1')).toEqual(['net1', 'net3', 'net4']);
    expect(await watched('hv2')).toEqual(['net2']);
    const before = await inEchos('b3');
    expect(await c.ping('a1', ports.b3!.ip, 1)).toBe(false);
    expect(await inEchos('b3')).toBe(before);
    // The other router is untouched.
    expect(await c.ping('c1', ports.d3!.ip, 2)).toBe(true);
    for (const h of ['hv1', 'hv2', 'hv3']) {
      const r = (await c.api(h).call('POST', '/v1/agent/recompute')) as Record<string, unknown>;
      expect(r.incremental, h).toEqual({ equal: true, missing: [], extra: [], different: [] });
    }
  });
});

describe('reactive flows follow the topology', () => {
  const reactiveTo = async (host: string, ip: string) =>
    (await dumpFlows(host)).split('\n').filter((l) => /idle_timeout/.test(l) && l.includes(`nw_dst=${ip}`));
  /** The proactive route to one host: an l3_router flow for exactly that address, without timeout. */
  const proactiveTo = async (host: string, ip: string) =>
    (await dumpFlows(host))
      .split('\n')
      .filter(
        (l) => !/idle_timeout/.test(l) && new RegExp(`nw_dst=${ip.replaceAll('.', '\\.')}[ ,]`).test(l) && /table="?l3_router"?/.test(l),
      );

  it('switching a router reactive -> proactive -> reactive keeps routing, and drops the reactive flows on the switch', async () => {
    expect(await c.ping('c1', ports.d3!.ip, 2)).toBe(true);
    expect(await reactiveTo('hv1', '10.2.0.10')).toHaveLength(1);
    await c.api().call('PATCH', '/v1/routers/r2', { mode: 'proactive' });
    const deadline = Date.now() + 3_000;
    while ((await reactiveTo('hv1', '10.2.0.10')).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await reactiveTo('hv1', '10.2.0.10')).toEqual([]);
    expect(await c.pingUntil('c1', ports.d3!.ip, 3_000)).toBeGreaterThanOrEqual(0);
    // Let every agent finish applying the proactive flows (under load the first pings may still bridge
    // through the agent) before counting.
    for (const h of ['hv1', 'hv3']) {
      const until = Date.now() + 3_000;
      for (;;) {
        const f = (await c.agentStatus(h)).flows as { desiredVersion: number; appliedVersion: number };
        if (f.appliedVersion >= f.desiredVersion || Date.now() > until) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    expect(await proactiveTo('hv1', '10.2.0.10')).toHaveLength(1);
    expect(await c.ping('c1', ports.d3!.ip, 2)).toBe(true);
    const before = (await c.agentStatus('hv1')).l3.reactiveFlows as number;
    expect(await c.ping('c1', ports.d3!.ip, 2)).toBe(true);
    expect((await c.agentStatus('hv1')).l3.reactiveFlows).toBe(before);
    await c.api().call('PATCH', '/v1/routers/r2', { mode: 'reactive' });
    // Until hv1 has swapped its proactive host route for the reactive miss flow, a ping is still routed by
    // flows and sets up nothing: wait for the swap, then the next ping must go through the agent.
    const swap = Date.now() + 3_000;
    while ((await proactiveTo('hv1', '10.2.0.10')).length > 0 && Date.now() < swap) await new Promise((r) => setTimeout(r, 20));
    expect(await proactiveTo('hv1', '10.2.0.10')).toEqual([]);
    expect(await c.pingUntil('c1', ports.d3!.ip, 3_000)).toBeGreaterThanOrEqual(0);
    expect(await reactiveTo('hv1', '10.2.0.10')).toHaveLength(1);
  });

  it('reactive flows from before an agent restart are gone after it when their router changed', async () => {
    expect(await c.pingUntil('c1', ports.d3!.ip, 3_000)).toBeGreaterThanOrEqual(0);
    expect(await reactiveTo('hv1', '10.2.0.10')).toHaveLength(1);
    await c.stopAgent('hv1', 'SIGTERM');
    // The router changes while hv1's agent is away; its reactive flow stays on the switch meanwhile.
    await c.api('hv2').call('POST', '/v1/routers/r2/routes', { cidr: '10.9.9.0/24', nexthop: ports.d3!.ip });
    expect(await reactiveTo('hv1', '10.2.0.10')).toHaveLength(1);
    await c.startAgent('hv1');
    // The first reconcile after the start deletes transient flows no owner of this run declared.
    const deadline = Date.now() + 5_000;
    while ((await reactiveTo('hv1', '10.2.0.10')).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await reactiveTo('hv1', '10.2.0.10')).toEqual([]);
    // The next packet goes through the agent again and meets the current router.
    const before = (await c.agentStatus('hv1')).l3.reactiveFlows as number;
    expect(await c.pingUntil('c1', ports.d3!.ip, 5_000)).toBeGreaterThanOrEqual(0);
    expect(await reactiveTo('hv1', '10.2.0.10')).toHaveLength(1);
    expect((await c.agentStatus('hv1')).l3.reactiveFlows).toBeGreaterThan(before);
    // Removing the route changes the router again: its reactive owner is dropped, and the next test starts clean.
    await c.api('hv2').call('DELETE', `/v1/routers/r2/routes/${encodeURIComponent('10.9.9.0/24')}`);
    const dropped = Date.now() + 5_000;
    while ((await reactiveTo('hv1', '10.2.0.10')).length > 0 && Date.now() < dropped) await new Promise((r) => setTimeout(r, 50));
    expect(await reactiveTo('hv1', '10.2.0.10')).toEqual([]);
  });

  it('detaching a subnet from a reactive router stops routing at once, even for flows kept alive by traffic', async () => {
    expect(await c.ping('c1', ports.d3!.ip, 2)).toBe(true);
    expect((await dumpFlows('hv1')).split('\n').some((l) => /idle_timeout/.test(l) && l.includes('nw_dst=10.2.0.10'))).toBe(true);
    await c.api().call('DELETE', '/v1/routers/r2/interfaces/net4-sub');
    // Keep the old flows busy (well inside their idle timeout) while the change propagates.
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline && (await c.ping('c1', ports.d3!.ip, 0.2))) await new Promise((r) => setTimeout(r, 50));
    const before = await inEchos('d3');
    expect(await c.ping('c1', ports.d3!.ip, 1)).toBe(false);
    expect(await inEchos('d3')).toBe(before);
    for (const h of ['hv1', 'hv3']) {
      const stale = (await dumpFlows(h)).split('\n').filter((l) => /idle_timeout/.test(l) && /nw_dst=10\.[12]\.0\.10/.test(l));
      expect(stale, h).toEqual([]);
    }
  });
});
