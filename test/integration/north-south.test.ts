/**
 * Issue 14, north-south on real OVS and etcd: a sandbox with its physical network (br-pn segment, br-ex per host,
 * an outside host at 203.0.113.1), three agents mapping physnet1, a provider network `ext` (203.0.113.0/24, flat),
 * an overlay network n1 behind router r1 whose gateway is on ext with candidates hv1 then hv3.
 *
 * - SNAT: v2 (hv2, no FIP) reaches the outside host, which sees the gateway IP as source; the gateway IP answers pings;
 * - FIP: the outside host reaches v1 (hv1) through its floating IP, v1's traffic leaves with the FIP as source, and
 *   the FIP's traffic is seen only on hv1's uplink (never a tunnel, never another chassis);
 * - failover: under `ping -i 0.1` from v2 to the outside host, the active gateway's agent is SIGKILLed and its OVS
 *   stopped: hv3 takes over and the outage (printed) stays within the lease TTL plus a second and some slack;
 * - planned restart (SIGTERM) of the active gateway's agent does not fail over (same chassis, key never deleted);
 * - faults on the survivors (FIP and SNAT VMs on hv2, hv3 the active gateway): the FIP chassis's agent crashes and
 *   restarts, etcd goes away for longer than the lease TTL, and OVS restarts on the gateway and on the FIP chassis —
 *   FIP and SNAT traffic keep flowing (agent, store) or come back within seconds (OVS), without a failover;
 * - the active gateway's ovs-vswitchd dies while its agent lives on (its lease healthy): the agent stands down after
 *   DATAPATH_GRACE_MS and the standby takes over; when OVS is back it does not take the gateway back;
 * - the active gateway's uplink cable is pulled while its agent and OVS run on (Interface.link_state down): it stands
 *   down from the gateway and the standby takes over; the cable back, it does not take the gateway back; the same
 *   through the holder's crash, planned restart and OVS restart (its cable pulled meanwhile), and a store outage;
 * - the active gateway is cut off from the store alone (a black hole between its agent and etcd; its uplink and
 *   tunnels fine): the standby takes over when its lease lapses, and the old holder, hearing the new one's gratuitous
 *   ARP, stops answering for the gateway (no split brain on the physical network), through an OVS restart and its
 *   agent's crash and planned restart (restarted from its cache, it announces the gateway; the new holder defends
 *   it); the store back, it follows it;
 * - SNAT and FIPs over a star network (issue 16): with the underlay between the VMs' host and the gateway chassis cut,
 *   the SNATed traffic goes spoke → center → gateway spoke and back, and a FIP still leaves on its own chassis.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATAPATH_GRACE_MS } from '../../src/agent/agent.js';
import { centerKey, gatewayKey, GATEWAYS_PREFIX } from '../../src/model/keys.js';
import { openStore } from '../../src/store/index.js';
import type { Store, WatchEvent } from '../../src/store/types.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { expectRecomputeEqual as recomputeEqual } from '../helpers/recompute.js';
import { outage, pingRun } from '../helpers/ping-run.js';
import { capture } from '../helpers/capture.js';
import { TcpGate } from '../helpers/tcp-gate.js';
import { run as sh } from '../../src/sandbox/run.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TTL = 3;
const OUTSIDE = '203.0.113.1';

describe('north-south: SNAT, floating IPs, gateway failover', { timeout: 60_000 }, () => {
  let c: Cluster;
  let store: Store;
  let routerId: string;
  let gatewayIp: string;
  let fip: string;
  const ports: Record<string, PortInfo> = {};
  const events: WatchEvent[] = [];

  const outsideNs = () => c.sb.physnet!.outsideNetns;
  const ulNs = () => c.sb.physnet!.segmentNetns;
  /** The segment side of host i's uplink (in the underlay namespace). */
  const uplink = (host: string) => `${c.sb.prefix}x${c.sb.host(host).index}`;

  /** What each host's uplink saw (tcpdump `filter`) while `fn` ran once: the captures are nested, all listening first. */
  async function onUplinks(filter: string[], fn: () => Promise<void>): Promise<Record<string, string[]>> {
    const hosts = ['hv1', 'hv2', 'hv3'];
    const seen: Record<string, string[]> = {};
    const under = (i: number): Promise<void> =>
      i === hosts.length
        ? fn()
        : capture(ulNs(), uplink(hosts[i]!), filter, () => under(i + 1)).then((lines) => void (seen[hosts[i]!] = lines));
    await under(0);
    return seen;
  }

  async function outsidePing(ip: string, count = 1): Promise<boolean> {
    const r = spawn('ip', ['netns', 'exec', outsideNs(), 'ping', '-c', String(count), '-n', '-W1', ip], { stdio: 'ignore' });
    return new Promise((resolve) => r.once('exit', (code) => resolve(code === 0)));
  }

  /** The active gateway chassis of r1, as the API of `via` (default: the first host with an agent) reads it. */
  async function active(via?: string): Promise<string | null> {
    const g = (await c.api(via).call('GET', '/v1/routers/r1/gateway')) as { active: string | null };
    return g.active;
  }

  async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
    const t0 = Date.now();
    while (!(await cond())) {
      if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
      await sleep(100);
    }
  }

  const expectRecomputeEqual = (hosts: string[]) => recomputeEqual(c, hosts);

  /** Plugs (up) or pulls (down) the segment's side of a host's cable: its uplink gains or loses its carrier. */
  const cable = (host: string, state: 'up' | 'down') => sh(['ip', '-n', ulNs(), 'link', 'set', uplink(host), state]);
  /** What each agent says of its gateways, NAT counters and uplink (a failure's message). */
  async function northSouthState(): Promise<string> {
    const out: Record<string, unknown> = { active: await active('hv2').catch((e: Error) => e.message) };
    for (const h of ['hv1', 'hv2', 'hv3']) {
      const st = await c.agentStatus(h).catch((e: Error) => ({ error: e.message }) as Record<string, any>);
      out[h] = { gateways: st.gateways, nat: st.nat, uplink: st.bridge?.physnets?.physnet1?.uplink, store: st.store?.state };
    }
    await dumpForDebugging();
    return JSON.stringify(out);
  }
  /**
   * With WYVERN_NS_DUMP=<dir>, a failure's state is also written there for a post-mortem: each host's flows (with
   * their counters), conntrack entries, datapath flows and agent log.
   */
  async function dumpForDebugging(): Promise<void> {
    const dir = process.env.WYVERN_NS_DUMP;
    if (!dir) return;
    const at = `${dir}/${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await mkdir(at, { recursive: true });
    for (const h of ['hv1', 'hv2', 'hv3']) {
      const host = c.sb.host(h);
      const grab = async (name: string, fn: () => Promise<string>) =>
        writeFile(`${at}/${h}.${name}`, await fn().catch((e: Error) => `failed: ${e.message}`));
      await grab('flows', () => host.ovs.ofctl(['-O', 'OpenFlow13', 'dump-flows', host.ovs.mgmtSock()]));
      await grab('conntrack', () => host.ovs.appctl(['dpctl/dump-conntrack']));
      await grab('dpflows', () => host.ovs.appctl(['dpctl/dump-flows']));
      await grab('br-ex.fdb', () => host.ovs.appctl(['fdb/show', 'br-ex']));
      await copyFile(join(c.sb.runDir, h, 'agent.log'), `${at}/${h}.agent.log`).catch(() => undefined);
    }
    await writeFile(`${at}/segment.fdb`, await sh(['bridge', '-n', ulNs(), 'fdb', 'show', 'br', 'br-pn']).catch((e: Error) => e.message));
    await writeFile(`${at}/outside.neigh`, await sh(['ip', '-n', outsideNs(), 'neigh']).catch((e: Error) => e.message));
  }
  /** A chassis record as the API serves it. */
  const chassisRecord = async (host: string) => (await c.api('hv2').call('GET', `/v1/chassis/${host}`)) as { uplinksDown?: string[] };
  /** What a host's agent says of its physnet1 uplink (agent status). */
  const uplinkState = async (host: string) =>
    ((await c.agentStatus(host)).bridge.physnets.physnet1 as { uplink?: { state: string } }).uplink?.state;

  /**
   * Under SNAT traffic from v2, `fault` makes the active gateway `from` unfit while its agent and lease live on: it
   * releases the key itself (one delete; its chassis stays alive), `to` takes over and answers for the gateway IP,
   * and `why` checks what `from` says. Then `recover` makes it fit again: it is a candidate again, not the gateway
   * again (non-preemptive). Returns the key's move and the ping outage (ms).
   */
  async function standsDown(
    from: string,
    to: string,
    fault: () => Promise<unknown>,
    why: () => Promise<unknown>,
    recover: () => Promise<unknown>,
  ): Promise<{ takeover: number; gap: number }> {
    expect(await active()).toBe(from);
    events.length = 0;
    const run = pingRun(c, 'v2', OUTSIDE, 0.1);
    let moved: { takeover: number; gap: number };
    try {
      await until(async () => run.replies.length > 3, 10_000, `SNAT answers through ${from}`);
      const t0 = Date.now();
      await fault();
      await until(async () => (await active()) === to, 15_000, `${to} active`);
      const takeover = Date.now() - t0;
      expect(events.filter((e) => e.type === 'delete').length).toBe(1);
      expect(((await c.api().call('GET', `/v1/chassis/${from}`)) as { alive: boolean }).alive).toBe(true);
      await why();
      const before = run.replies.length;
      await until(async () => run.replies.length > before + 5, 10_000, `SNAT answers through ${to}`);
      expect(await outsidePing(gatewayIp, 1)).toBe(true); // the gateway IP answers from its new chassis
      await sleep(500);
      moved = { takeover, gap: outage(run.replies, t0, Date.now()) };
    } finally {
      await run.stop();
    }
    await recover();
    await sleep(1_500);
    expect(await active()).toBe(to);
    expect(await c.ping('v2', OUTSIDE, 1)).toBe(true);
    await expectRecomputeEqual(['hv1', 'hv2', 'hv3']);
    return moved;
  }

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 3, physnet: true, agents: false });
    const args = ['--lease-ttl-seconds', String(TTL)];
    await Promise.all(['hv1', 'hv2', 'hv3'].map((h) => c.startAgent(h, { args })));
    const api = c.api();
    await api.call('POST', '/v1/networks', { name: 'ext', mtu: 1500, provider: { physnet: 'physnet1' } });
    await api.call('POST', '/v1/subnets', {
      name: 'ext-sub',
      network: 'ext',
      cidr: '203.0.113.0/24',
      gatewayIp: OUTSIDE,
      enableDhcp: false,
    });
    await c.network('n1', '10.1.0.0/24', { mtu: 1400 });
    const r = (await api.call('POST', '/v1/routers', { name: 'r1' })) as { id: string };
    routerId = r.id;
    await api.call('POST', '/v1/routers/r1/interfaces', { subnet: 'n1-sub' });
    await api.call('PUT', '/v1/routers/r1/gateway', { network: 'ext', chassis: ['hv1', 'hv3'] });
    gatewayIp = ((await api.call('GET', '/v1/routers/r1/gateway')) as { ip: string }).ip;
    expect(gatewayIp).toMatch(/^203\.0\.113\./);
    // East-west: a VLAN provider network on the same router (an interface, not its gateway).
    await api.call('POST', '/v1/networks', { name: 'pv', mtu: 1500, provider: { physnet: 'physnet1', vlan: 300 } });
    await api.call('POST', '/v1/subnets', { name: 'pv-sub', network: 'pv', cidr: '10.60.0.0/24', enableDhcp: false });
    await api.call('POST', '/v1/routers/r1/interfaces', { subnet: 'pv-sub' });
    ports.p3 = await c.port('p3', 'pv', '10.60.0.13');
    ports.v1 = await c.port('v1', 'n1', '10.1.0.11');
    ports.v2 = await c.port('v2', 'n1', '10.1.0.12');
    const f = (await api.call('POST', '/v1/floating-ips', { network: 'ext', port: 'v1' })) as { ip: string };
    fip = f.ip;
    await Promise.all([
      c.vm('hv1', 'v1', ports.v1, 24, { gateway: '10.1.0.1' }),
      c.vm('hv2', 'v2', ports.v2, 24, { gateway: '10.1.0.1' }),
      c.vm('hv3', 'p3', ports.p3, 24, { gateway: '10.60.0.1' }),
    ]);
    store = await openStore(c.storeUrl);
    store.watch(GATEWAYS_PREFIX, undefined, { onBatch: (b) => events.push(...b.events) });
    await until(async () => (await active()) === 'hv1', 10_000, 'hv1 active');
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await c?.down();
  });

  it('SNAT: v2 (hv2) reaches the outside host, which sees the gateway IP as the source', async () => {
    expect(await c.pingUntil('v2', OUTSIDE, 10_000)).toBeGreaterThanOrEqual(0);
    const seen = await capture(outsideNs(), 'eth0', ['icmp'], async () => {
      expect(await c.ping('v2', OUTSIDE, 1)).toBe(true);
    });
    const requests = seen.filter((l) => l.includes('echo request'));
    expect(requests.length).toBeGreaterThan(0);
    expect(
      requests.every((l) => l.includes(`${gatewayIp} > ${OUTSIDE}`)),
      requests.join('\n'),
    ).toBe(true);
    // The gateway IP itself answers pings from outside, on the active chassis's uplink only.
    const perUplink = await onUplinks(['icmp', 'and', 'host', gatewayIp], async () => {
      await sleep(300);
      expect(await outsidePing(gatewayIp, 3)).toBe(true);
    });
    expect(perUplink.hv1!.filter((l) => l.includes(`${gatewayIp} > ${OUTSIDE}: ICMP echo reply`)).length).toBe(3);
    expect(perUplink.hv2).toEqual([]);
    expect(perUplink.hv3).toEqual([]);
    await expectRecomputeEqual(['hv1', 'hv2', 'hv3']);
  });

  it('the very first packet to a new on-link next hop is not lost: the agent holds it while it ARPs', async () => {
    const r = spawn('ip', ['netns', 'exec', outsideNs(), 'ip', 'addr', 'add', '203.0.113.77/24', 'dev', 'eth0'], { stdio: 'ignore' });
    await new Promise((resolve) => r.once('exit', resolve));
    expect(await c.ping('v2', '203.0.113.77', 2)).toBe(true);
  });

  it('FIP: the outside host reaches v1 through it; v1 leaves with the FIP as source; seen only on hv1 uplink', async () => {
    await until(() => outsidePing(fip), 10_000, 'outside -> FIP');
    const perUplink = await onUplinks(['icmp', 'and', 'host', fip], async () => {
      await sleep(500);
      expect(await outsidePing(fip, 3)).toBe(true);
      expect(await c.ping('v1', OUTSIDE, 1)).toBe(true);
    });
    expect(perUplink.hv1!.length).toBeGreaterThanOrEqual(8);
    expect(perUplink.hv2).toEqual([]);
    expect(perUplink.hv3).toEqual([]);
    expect(perUplink.hv1!.some((l) => l.includes(`${fip} > ${OUTSIDE}`) && l.includes('echo request'))).toBe(true);
  });

  it('east-west between the VLAN provider network and the overlay through the router: routed, never NATed', async () => {
    expect(await c.pingUntil('v2', ports.p3!.ip, 10_000)).toBeGreaterThanOrEqual(0);
    expect(await c.ping('p3', ports.v2!.ip, 1)).toBe(true);
    const seen = await capture(ulNs(), uplink('hv3'), ['-e', 'vlan', 'and', 'icmp'], async () => {
      expect(await c.ping('v2', ports.p3!.ip, 1)).toBe(true);
    });
    const req = seen.filter((l) => l.includes('echo request'));
    expect(req.length).toBeGreaterThan(0);
    expect(
      req.every((l) => l.includes('vlan 300') && l.includes(`${ports.v2!.ip} > ${ports.p3!.ip}`)),
      req.join('\n'),
    ).toBe(true);
  });

  it('the FIP follows its VM to another chassis (gratuitous ARP): outside -> FIP works, seen only on the new uplink', async () => {
    // The new chassis announces the FIP (gratuitous ARP) on its uplink.
    const garps = await capture(ulNs(), uplink('hv2'), ['arp'], async () => {
      await c.sb.moveVm('v1', 'hv2');
      await c.waitInstalled('v1');
      await sleep(500);
    });
    expect(
      garps.some((l) => l.includes(`Request who-has ${fip} tell ${fip}`)),
      garps.join('\n'),
    ).toBe(true);
    const t0 = Date.now();
    await until(() => outsidePing(fip), 10_000, 'outside -> FIP after the move');
    console.log(`FIP moved hv1 -> hv2: outside reaches it again after ${Date.now() - t0} ms`);
    const perUplink = await onUplinks(['icmp', 'and', 'host', fip], async () => {
      await sleep(500);
      expect(await outsidePing(fip, 3)).toBe(true);
    });
    expect(perUplink.hv2!.length).toBeGreaterThanOrEqual(6);
    expect(perUplink.hv1).toEqual([]);
    expect(perUplink.hv3).toEqual([]);
    await expectRecomputeEqual(['hv1', 'hv2', 'hv3']);
  });

  it('failover: the active gateway dies (agent SIGKILL, OVS stopped); hv3 takes over within the lease TTL + 1 s', async () => {
    const run = pingRun(c, 'v2', OUTSIDE, 0.1);
    await sleep(2_000);
    expect(run.replies.length).toBeGreaterThan(5);
    const t0 = Date.now();
    let takeover = 0;
    // The new active chassis sends a gratuitous ARP for the gateway IP on its uplink.
    const garps = await capture(ulNs(), uplink('hv3'), ['arp'], async () => {
      await c.stopAgent('hv1', 'SIGKILL');
      await c.sb.host('hv1').ovs.stop();
      await until(async () => (await active()) === 'hv3', (TTL + 5) * 1000, 'hv3 active');
      takeover = Date.now() - t0;
      await sleep(500);
    });
    expect(
      garps.some((l) => l.includes(`Request who-has ${gatewayIp} tell ${gatewayIp}`)),
      garps.join('\n'),
    ).toBe(true);
    // Until replies flow again, then a little more.
    const before = run.replies.length;
    await until(async () => run.replies.length > before + 5, 10_000, 'replies again');
    await sleep(1_000);
    await run.stop();
    const gap = outage(run.replies, t0, Date.now());
    console.log(`gateway failover: key moved after ${takeover} ms, ping outage ${gap.toFixed(0)} ms (lease TTL ${TTL} s)`);
    expect(gap).toBeLessThan((TTL + 1) * 1000 + 1_500);
  });

  it('a planned restart (SIGTERM) of the active gateway agent does not fail over', async () => {
    const before = await store.get(gatewayKey(routerId));
    expect(JSON.parse(before!.value).chassis).toBe('hv3');
    events.length = 0;
    const run = pingRun(c, 'v2', OUTSIDE, 0.1);
    await sleep(1_000);
    const t0 = Date.now();
    await c.stopAgent('hv3', 'SIGTERM');
    await c.startAgent('hv3', { args: ['--lease-ttl-seconds', String(TTL)] });
    // Past the old lease's expiry: still hv3, on the new agent's lease, never deleted.
    await sleep((TTL + 1.5) * 1000);
    await run.stop();
    const after = await store.get(gatewayKey(routerId));
    expect(JSON.parse(after!.value).chassis).toBe('hv3');
    expect(after!.createRevision).toBe(before!.createRevision);
    expect(after!.lease).not.toBe(before!.lease);
    expect(events.filter((e) => e.type === 'delete')).toEqual([]);
    const gap = outage(run.replies, t0, Date.now());
    console.log(`planned restart of the active gateway agent: ping outage ${gap.toFixed(0)} ms`);
    expect(gap).toBeLessThan(1_000);
    await expectRecomputeEqual(['hv2', 'hv3']);
  });

  /** Both north-south paths under ping -i 0.1 from hv2 (v1 leaves by its FIP, v2 by SNAT through hv3) while `fault` runs. */
  async function underTraffic(fault: () => Promise<void>): Promise<{ fip: number; snat: number }> {
    const viaFip = pingRun(c, 'v1', OUTSIDE, 0.1);
    const viaSnat = pingRun(c, 'v2', OUTSIDE, 0.1);
    try {
      await until(async () => viaFip.replies.length > 3 && viaSnat.replies.length > 3, 10_000, 'both paths answer');
      const t0 = Date.now();
      await fault();
      const [a, b] = [viaFip.replies.length, viaSnat.replies.length];
      await until(async () => viaFip.replies.length > a + 5 && viaSnat.replies.length > b + 5, 20_000, 'both paths answer again');
      await sleep(500);
      return { fip: outage(viaFip.replies, t0, Date.now()), snat: outage(viaSnat.replies, t0, Date.now()) };
    } finally {
      await viaFip.stop();
      await viaSnat.stop();
    }
  }

  it('the FIP chassis agent crashes (SIGKILL) and restarts: FIP and SNAT traffic never stop', async () => {
    const gaps = await underTraffic(async () => {
      await c.stopAgent('hv2', 'SIGKILL');
      await sleep(1_000);
      await c.startAgent('hv2', { args: ['--lease-ttl-seconds', String(TTL)] });
      await sleep(1_000);
    });
    console.log(`FIP chassis agent SIGKILL + restart: outage FIP ${gaps.fip.toFixed(0)} ms, SNAT ${gaps.snat.toFixed(0)} ms`);
    expect(gaps.fip).toBeLessThan(1_000);
    expect(gaps.snat).toBeLessThan(1_000);
    expect(await active()).toBe('hv3');
    await expectRecomputeEqual(['hv2', 'hv3']);
  });

  it('etcd away for longer than the lease TTL: FIP and SNAT traffic keep flowing, no failover', async () => {
    const gaps = await underTraffic(async () => {
      await c.etcd.members[0]!.kill();
      await sleep((TTL + 3) * 1000);
      await c.etcd.members[0]!.restart();
    });
    console.log(`store outage of ${TTL + 3} s: outage FIP ${gaps.fip.toFixed(0)} ms, SNAT ${gaps.snat.toFixed(0)} ms`);
    expect(gaps.fip).toBeLessThan(1_000);
    expect(gaps.snat).toBeLessThan(1_000);
    // The agents come back to the store (their leases renewed or re-made) and hv3 stays the gateway.
    await until(async () => (await active().catch(() => null)) === 'hv3', 15_000, 'hv3 still active after the outage');
    await sleep(TTL * 1000);
    expect(await active()).toBe('hv3');
    // No one took the gateway over, so no one announced it: nothing was fenced off (gateway-fence.ts).
    expect((await c.agentStatus('hv3')).gateways.fenced).toBeUndefined();
  });

  it('OVS restarts on the gateway chassis, then on the FIP chassis: both paths come back, no failover', async () => {
    for (const host of ['hv3', 'hv2']) {
      const gaps = await underTraffic(async () => {
        await c.sb.hostStop(host);
        await sleep(500);
        await c.sb.hostStart(host);
      });
      console.log(`OVS restart on ${host}: outage FIP ${gaps.fip.toFixed(0)} ms, SNAT ${gaps.snat.toFixed(0)} ms`);
      expect(Math.max(gaps.fip, gaps.snat)).toBeLessThan(15_000);
      expect(await active()).toBe('hv3');
    }
    await expectRecomputeEqual(['hv2', 'hv3']);
  }, 120_000);

  it('a floating IP meets its port security groups after DNAT: only what a rule admits comes in; egress and its replies pass', async () => {
    const api = c.api();
    await api.call('POST', '/v1/security-groups', { name: 'fipsg', description: 'no ingress yet' });
    await api.call('PATCH', '/v1/ports/v1', { securityGroups: ['fipsg'] });
    // A new group allows all egress and no ingress: v1 still reaches outside by its FIP (the replies are its
    // connection's), but the outside host cannot open anything towards the FIP.
    await until(async () => !(await outsidePing(fip)), 5_000, 'outside -> FIP blocked by the group');
    expect(await c.ping('v1', OUTSIDE, 1)).toBe(true);
    const rule = (await api.call('POST', '/v1/security-groups/fipsg/rules', {
      direction: 'ingress',
      protocol: 'icmp',
      remoteCidr: '203.0.113.0/24',
    })) as { id: string };
    await until(() => outsidePing(fip), 5_000, 'outside -> FIP admitted by the rule');
    await api.call('DELETE', `/v1/security-groups/fipsg/rules/${rule.id}`);
    await until(async () => !(await outsidePing(fip)), 5_000, 'outside -> FIP blocked again');
    await expectRecomputeEqual(['hv2', 'hv3']);
    await api.call('PATCH', '/v1/ports/v1', { securityGroups: [] });
    await until(() => outsidePing(fip), 5_000, 'outside -> FIP open again');
  });

  it('the active gateway loses its datapath only (ovs-vswitchd dead, agent alive): it stands down, hv1 takes over; OVS back, no preemption', async () => {
    // hv1 (first candidate) has been down since the failover test: back with OVS and its agent, as a standby.
    await c.sb.hostStart('hv1');
    await c.startAgent('hv1', { args: ['--lease-ttl-seconds', String(TTL)] });
    const { takeover, gap } = await standsDown(
      'hv3',
      'hv1',
      () => c.sb.hostStop('hv3', { daemons: ['ovs-vswitchd'] }),
      async () => expect((await c.agentStatus('hv3')).gateways.standingDown).toMatch(/^datapath down: no OpenFlow session/),
      async () => {
        await c.sb.hostStart('hv3');
        const back = async () => (await c.agentStatus('hv3')).gateways.standingDown === undefined;
        await until(back, 10_000, 'hv3 no longer standing down');
      },
    );
    console.log(`gateway datapath death (agent alive): key moved after ${takeover} ms, ping outage ${gap.toFixed(0)} ms`);
    expect(gap).toBeLessThan(DATAPATH_GRACE_MS + 2_500);
  }, 90_000);
  it('SNAT over a star network: spoke → center → gateway spoke and back, with the underlay between the two spokes cut', async () => {
    expect(await active()).toBe('hv1');
    const api = c.api();
    // hv3 hosts a port of n1 and is the preferred center; hv2 (v1, v2) and hv1 (the active gateway) are spokes.
    ports.v3 = await c.port('v3', 'n1', '10.1.0.13');
    await c.vm('hv3', 'v3', ports.v3, 24, { gateway: '10.1.0.1' });
    const n1 = (await api.call('GET', '/v1/networks/n1')) as { id: string };
    await api.call('PATCH', '/v1/networks/n1', { topology: 'star', centers: ['hv3'] });
    await until(
      async () => {
        const kv = await store.get(centerKey(n1.id));
        return kv !== undefined && (JSON.parse(kv.value) as { chassis: string }).chassis === 'hv3';
      },
      10_000,
      'hv3 the center of n1',
    );
    await c.sb.blockUnderlay('hv2', 'hv1');
    try {
      expect(await c.pingUntil('v2', OUTSIDE, 10_000)).toBeGreaterThanOrEqual(0);
      const tunnel = (a: string, b: string, lines: string[]) =>
        lines.filter((l) => l.includes(`${c.sb.host(a).tunnelIp}.`) && l.includes(`> ${c.sb.host(b).tunnelIp}.`));
      let seen: string[] = [];
      const outside = await capture(outsideNs(), 'eth0', ['icmp'], async () => {
        seen = await capture(`${c.sb.prefix}-ul`, 'br-ul', ['-q', 'ip'], async () => {
          const r = await c.sb.exec('v2', ['ping', '-c', '5', '-i', '0.1', '-W', '1', '-n', OUTSIDE]);
          expect(r.stdout).toMatch(/ 0% packet loss/);
        });
      });
      // SNATed to the gateway IP, carried hv2 → hv3 → hv1 and back through the center.
      expect(outside.filter((l) => l.includes(`${gatewayIp} > ${OUTSIDE}`)).length).toBeGreaterThanOrEqual(5);
      expect(tunnel('hv2', 'hv1', seen)).toEqual([]);
      expect(tunnel('hv1', 'hv2', seen)).toEqual([]);
      expect(tunnel('hv2', 'hv3', seen).length).toBeGreaterThanOrEqual(5);
      expect(tunnel('hv3', 'hv1', seen).length).toBeGreaterThanOrEqual(5);
      expect(tunnel('hv1', 'hv3', seen).length).toBeGreaterThanOrEqual(5);
      // v1's FIP is NATed on its own chassis (hv2): it never needs the star.
      expect(await outsidePing(fip, 2)).toBe(true);
      await expectRecomputeEqual(['hv1', 'hv2', 'hv3']);
    } finally {
      await c.sb.blockUnderlay('hv2', 'hv1', true);
      await api.call('PATCH', '/v1/networks/n1', { topology: 'mesh' });
    }
    expect(await c.pingUntil('v2', OUTSIDE, 10_000)).toBeGreaterThanOrEqual(0);
  });
  it("the active gateway's uplink cable is pulled (agent, lease and OVS fine): it stands down, hv3 takes over; cable back, no preemption", async () => {
    expect(await uplinkState('hv1')).toBe('up');
    const { takeover, gap } = await standsDown(
      'hv1',
      'hv3',
      // hv1's uplink loses its carrier; nothing else on hv1 notices.
      () => cable('hv1', 'down'),
      async () => {
        expect(await uplinkState('hv1')).toBe('down');
        // Its chassis record says so: the other candidates stop ranking it.
        await until(async () => (await chassisRecord('hv1')).uplinksDown?.[0] === 'physnet1', 5_000, 'hv1 publishes its dead uplink');
      },
      async () => {
        await cable('hv1', 'up');
        await until(async () => (await uplinkState('hv1')) === 'up', 10_000, 'hv1 uplink up again');
        await until(async () => (await chassisRecord('hv1')).uplinksDown === undefined, 5_000, 'hv1 publishes its uplink back');
      },
    );
    console.log(`gateway uplink pulled: key moved after ${takeover} ms, ping outage ${gap.toFixed(0)} ms`);
    expect(gap).toBeLessThan(3_000);
  }, 60_000);
  it("a dead uplink through faults: the holder's crash, planned restart, OVS restart and a store outage, its cable pulled meanwhile", async () => {
    const args = ['--lease-ttl-seconds', String(TTL)];
    const other = (h: string) => (h === 'hv1' ? 'hv3' : 'hv1');
    /** Pulls the holder's cable during `fault`; the other candidate must end up holding the gateway. */
    async function pulledDuring(what: string, fault: (holder: string) => Promise<void>): Promise<void> {
      const holder = (await active())!;
      expect(['hv1', 'hv3']).toContain(holder);
      const t0 = Date.now();
      await fault(holder);
      await until(async () => (await active().catch(() => null)) === other(holder), 20_000, `${other(holder)} active (${what})`);
      console.log(`uplink pulled, ${what} of ${holder}: gateway on ${other(holder)} ${Date.now() - t0} ms after the fault began`);
      await until(async () => (await uplinkState(holder).catch(() => undefined)) === 'down', 10_000, `${holder} reports its uplink down`);
      const answered = await c.pingUntil('v2', OUTSIDE, 10_000);
      if (answered < 0) throw new Error(`SNAT after the ${what} of ${holder}: no answer within 10 s: ${await northSouthState()}`);
      await cable(holder, 'up');
      await until(async () => (await uplinkState(holder)) === 'up', 10_000, `${holder} uplink up again`);
      expect(await active()).toBe(other(holder));
    }
    // Crash: SIGKILL, the cable pulled, the agent back within the lease TTL (the key still names it): it releases
    // the key instead of moving it onto its new lease.
    await pulledDuring('SIGKILL and restart', async (h) => {
      await c.stopAgent(h, 'SIGKILL');
      await cable(h, 'down');
      await c.startAgent(h, { args });
    });
    // Planned restart: the same with SIGTERM (the lease is not revoked: the key stays until the new agent acts).
    await pulledDuring('SIGTERM and restart', async (h) => {
      await c.stopAgent(h, 'SIGTERM');
      await cable(h, 'down');
      await c.startAgent(h, { args });
    });
    // OVS restart: the cable pulled while Open vSwitch is down; it comes back with the uplink dead.
    await pulledDuring('OVS restart', async (h) => {
      await c.sb.hostStop(h);
      await cable(h, 'down');
      await sleep(500);
      await c.sb.hostStart(h);
    });
    // Store outage: the cable pulled while etcd is away; the holder cannot release until it is back, then does.
    await pulledDuring('store outage', async (h) => {
      await c.etcd.members[0]!.kill();
      await cable(h, 'down');
      await sleep(2_000);
      await c.etcd.members[0]!.restart();
    });
    await expectRecomputeEqual(['hv1', 'hv2', 'hv3']);
  }, 120_000);

  /**
   * The active gateway cut off from the store alone. `presence`: its chassis key on a presence lease of that many
   * seconds (--presence-ttl-seconds), so it stays a live candidate for the others while cut off (the standby then
   * waits one rank, 500 ms, before it takes over) and its tunnels stay up.
   */
  async function holderCutOff(presence?: number): Promise<void> {
    const base = ['--lease-ttl-seconds', String(TTL)];
    const args = presence === undefined ? base : [...base, '--presence-ttl-seconds', String(presence)];
    const holder = (await active('hv2'))!;
    const standby = holder === 'hv1' ? 'hv3' : 'hv1';
    const gate = await TcpGate.open(c.etcd.url.replace(/^etcd:\/\//, ''));
    const fenced = async (host: string) => ((await c.agentStatus(host)).gateways.fenced ?? []) as { ip: string }[];
    /**
     * The outside host asks for the gateway again: only the standby answers (the old holder would answer too, and the
     * physical switch would learn the gateway MAC on whichever uplink spoke last).
     */
    async function onlyStandbyAnswers(when: string): Promise<void> {
      const seen = await onUplinks(['arp', 'and', 'host', gatewayIp], async () => {
        await sleep(300);
        await sh(['ip', '-n', outsideNs(), 'neigh', 'flush', 'dev', 'eth0']);
        expect(await outsidePing(gatewayIp, 2)).toBe(true);
      });
      const replies = (host: string) => seen[host]!.filter((l) => l.includes(`Reply ${gatewayIp} is-at`));
      expect(replies(holder), `${when}: ${seen[holder]!.join('\n')}`).toEqual([]);
      expect(replies(standby).length, `${when}: ${seen[standby]!.join('\n')}`).toBeGreaterThan(0);
    }
    try {
      // The holder's agent reaches etcd through the gate from now on (a planned restart: it keeps the gateway).
      await c.stopAgent(holder, 'SIGTERM');
      await c.startAgent(holder, { args, store: `etcd://${gate.address}` });
      await sleep((TTL + 1) * 1000);
      expect(await active('hv2')).toBe(holder);
      const run = pingRun(c, 'v2', OUTSIDE, 0.1);
      let takeover = 0;
      let gap = 0;
      try {
        await until(async () => run.replies.length > 3, 30_000, `SNAT answers through ${holder}`).catch(async (err: Error) => {
          throw new Error(`${err.message}: ${await northSouthState()}`);
        });
        const t0 = Date.now();
        gate.cut();
        await until(async () => (await active('hv2')) === standby, (TTL + 5) * 1000, `${standby} active`);
        takeover = Date.now() - t0;
        // Its gratuitous ARP reached the old holder, whose lease the store cannot confirm: the gateway is fenced off there.
        await until(async () => (await fenced(holder)).length === 1, 5_000, `${holder} fences the gateway off`);
        expect((await fenced(holder))[0]!.ip).toBe(gatewayIp);
        expect((await c.agentStatus(holder)).gateways.conflicts).toMatchObject({ fenced: 1 });
        expect(await fenced(standby)).toEqual([]);
        await onlyStandbyAnswers('fenced');
        const before = run.replies.length;
        await until(async () => run.replies.length > before + 5, 30_000, `SNAT answers through ${standby}`).catch(async (err: Error) => {
          throw new Error(`${err.message}: ${await northSouthState()}`);
        });
        gap = outage(run.replies, t0, Date.now());
      } finally {
        await run.stop();
      }
      console.log(
        `gateway cut off from the store alone${presence ? ` (presence lease ${presence} s)` : ''}: key moved after ${takeover} ms, SNAT outage ${gap.toFixed(0)} ms (lease TTL ${TTL} s)`,
      );
      expect(gap).toBeLessThan((TTL + 1) * 1000 + 1_500);
      // Still cut off, Open vSwitch restarts on the old holder: the fence is the agent's, the flows come back without
      // the gateway.
      await c.sb.hostStop(holder);
      await sleep(500);
      await c.sb.hostStart(holder);
      await until(async () => (await c.agentStatus(holder)).openflow.up === true, 15_000, `${holder} switch back`);
      await sleep(1_000);
      await onlyStandbyAnswers('after an OVS restart');
      // Still cut off, its agent restarts (crash, then planned): it starts from its cache as the gateway's holder and
      // announces it; the new holder, which the store confirms, defends the address, and the old holder yields again.
      for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
        const defences = (await c.agentStatus(standby)).nat.gatewayDefences as number;
        await c.stopAgent(holder, signal);
        const t1 = Date.now();
        await c.startAgent(holder, { args, store: `etcd://${gate.address}` });
        const ready = Date.now() - t1;
        await until(async () => (await fenced(holder)).length === 1, 15_000, `${holder} fenced again after ${signal}`);
        console.log(
          `${signal} of the fenced holder, still cut off: its agent ready in ${ready} ms, fenced again ${Date.now() - t1} ms after its start`,
        );
        expect((await c.agentStatus(standby)).nat.gatewayDefences).toBeGreaterThan(defences);
        await sleep(500);
        await onlyStandbyAnswers(`after ${signal} and a restart`);
      }
      // The store back: the old holder reads the key (the standby's: no preemption), which lifts its fence.
      gate.heal();
      const back = async () => {
        const s = await c.agentStatus(holder);
        return s.store.state === 'connected' && s.gateways.fenced === undefined && s.chassisRegistration.lastError === undefined;
      };
      await until(back, 15_000, `${holder} back on the store, unfenced`);
      await sleep(1_500);
      expect(await active('hv2')).toBe(standby);
      expect(await c.ping('v2', OUTSIDE, 1)).toBe(true);
      await expectRecomputeEqual(['hv1', 'hv2', 'hv3']);
    } finally {
      gate.heal();
      await c.stopAgent(holder, 'SIGTERM');
      await c.startAgent(holder, { args: base });
      await gate.close();
    }
  }

  it('the active gateway cut off from the store alone: the standby takes over; the old holder hears it and stops answering for the gateway', async () => {
    await holderCutOff();
  }, 90_000);

  it('the same with the holder on a presence lease (it stays present for the others while cut off)', async () => {
    await holderCutOff(30);
  }, 90_000);
});
