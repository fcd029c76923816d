/**
 * Issue 16, star networks on real OVS and etcd: four hypervisors whose underlay forbids hv3 <-> hv4 (an iptables
 * filter in the underlay namespace), agents with a short lease TTL, a star network `s` (center preference hv1, hv2)
 * with a VM on every host, and a mesh network `m` with VMs on hv3 and hv4 as the control.
 *
 * - the filter works (hv3 cannot reach hv4's tunnel IP, hv1 still can) and the mesh network is cut by it;
 * - star: the VMs on hv3 and hv4 ping each other through the elected center, and a capture on the underlay sees
 *   no packet between hv3 and hv4 — while it sees them go through the center;
 * - security groups hold through the relay (a spoke's ACL sees the sending spoke's address);
 * - a planned restart (SIGTERM, start again) of the center's agent keeps the center and loses no ping;
 * - the center's chassis dies (agent SIGKILL, OVS stopped) under `ping -i 0.05` between the hv3 and hv4 VMs: hv2
 *   takes over, the outage is printed beside the lease TTL, and on the surviving spokes the flows that changed
 *   are only those that named the old center (its tunnel IP, its VM's MAC) and their replacements naming the new;
 * - OVS restarts on the new center, and the store goes away for longer than the lease TTL: traffic comes back
 *   (OVS) or never stops (store), no failover;
 * - a live switch to mesh and back keeps traffic flowing between hosts the underlay lets meet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centerKey } from '../../src/model/keys.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { capture } from '../helpers/capture.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { expectRecomputeEqual as recomputeEqual } from '../helpers/recompute.js';
import { lost, outage, pingRun, sleep, until } from '../helpers/ping-run.js';
import { addRule, createGroup, setPortGroups } from '../helpers/sg-api.js';

const TTL = 3;
const ARGS = ['--lease-ttl-seconds', String(TTL)];

describe('star network: relay through an elected center, failover, no teardown', { timeout: 60_000 }, () => {
  let c: Cluster;
  let store: Store;
  let starId: string;
  const ports: Record<string, PortInfo> = {};

  const center = async (): Promise<string | null> => {
    const kv = await store.get(centerKey(starId));
    return kv ? (JSON.parse(kv.value) as { chassis: string }).chassis : null;
  };
  const ip = (h: string) => c.sb.host(h).tunnelIp;
  const hostPing = async (from: string, to: string) =>
    (
      await c.sb
        .host(from)
        .ovs.exec(['ping', '-c', '2', '-W', '1', '-n', ip(to)])
        .catch(() => ({ code: 1 }))
    ).code === 0;
  const dump = async (h: string) =>
    (await c.sb.host(h).ovs.ofctl(['-O', 'OpenFlow13', '--no-stats', 'dump-flows', c.sb.host(h).ovs.mgmtSock()]))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('OFPST') && !l.startsWith('NXST'))
      .sort();

  /** `wyvern network update s --topology …`: a live switch through the API. */
  async function setTopology(topology: 'mesh' | 'star'): Promise<void> {
    await c.api('hv2').call('PATCH', '/v1/networks/s', topology === 'star' ? { topology, centers: ['hv1', 'hv2'] } : { topology });
  }

  const expectRecomputeEqual = (hosts: string[]) => recomputeEqual(c, hosts);

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 4, agents: false, blockUnderlay: [['hv3', 'hv4']] });
    await Promise.all(['hv1', 'hv2', 'hv3', 'hv4'].map((h) => c.startAgent(h, { args: ARGS })));
    store = await openStore(c.storeUrl);
    const api = c.api();
    const s = (await api.call('POST', '/v1/networks', { name: 's', mtu: 1400, topology: 'star', centers: ['hv1', 'hv2'] })) as {
      id: string;
    };
    starId = s.id;
    await api.call('POST', '/v1/subnets', { name: 's-sub', network: 's', cidr: '10.7.0.0/24', enableDhcp: false });
    await c.network('m', '10.8.0.0/24', { mtu: 1400 });
    for (const [vm, host, net] of [
      ['s1', 'hv1', 's'],
      ['s2', 'hv2', 's'],
      ['s3', 'hv3', 's'],
      ['s4', 'hv4', 's'],
      ['m3', 'hv3', 'm'],
      ['m4', 'hv4', 'm'],
    ] as const) {
      ports[vm] = await c.port(vm, net);
      await c.vm(host, vm, ports[vm]!);
    }
    await until(async () => (await center()) === 'hv1', 15_000, 'hv1 elected center');
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await c?.down();
  });

  it('the underlay filter cuts hv3 <-> hv4 only, and a mesh network between them with it', async () => {
    expect(await hostPing('hv3', 'hv1')).toBe(true);
    expect(await hostPing('hv3', 'hv4')).toBe(false);
    expect(await c.ping('m3', ports.m4!.ip, 1)).toBe(false);
  });

  it('star: hv3 and hv4 VMs ping each other through the center; the underlay never carries hv3 <-> hv4', async () => {
    expect(await c.pingUntil('s3', ports.s4!.ip, 10_000)).toBeGreaterThanOrEqual(0);
    const ul = `${c.sb.prefix}-ul`;
    const lines = await capture(ul, 'br-ul', ['-q', 'ip'], async () => {
      const r = await c.sb.exec('s3', ['ping', '-c', '5', '-i', '0.1', '-W', '1', '-n', ports.s4!.ip]);
      expect(r.stdout).toMatch(/ 0% packet loss/);
      expect((await c.sb.exec('s4', ['ping', '-c', '3', '-i', '0.1', '-W', '1', '-n', ports.s1!.ip])).stdout).toMatch(/ 0% packet loss/);
      expect((await c.sb.exec('s2', ['ping', '-c', '3', '-i', '0.1', '-W', '1', '-n', ports.s3!.ip])).stdout).toMatch(/ 0% packet loss/);
    });
    const between = (a: string, b: string) => lines.filter((l) => l.includes(`${ip(a)}.`) && l.includes(`> ${ip(b)}.`));
    expect(between('hv3', 'hv4')).toEqual([]);
    expect(between('hv4', 'hv3')).toEqual([]);
    // Spokes never tunnel to each other: hv2 <-> hv3 goes through hv1 too.
    expect(between('hv2', 'hv3')).toEqual([]);
    expect(between('hv3', 'hv1').length).toBeGreaterThan(0);
    expect(between('hv1', 'hv4').length).toBeGreaterThan(0);
    await expectRecomputeEqual(['hv1', 'hv3']);
  });

  it("security groups hold through the relay: a spoke's firewall sees the other spoke's address, not the center's", async () => {
    const api = c.api();
    // s4 in a group with no ingress rule: s3's ping, relayed by the center, is dropped at hv4's ingress ACL.
    const g = await createGroup(api, 'star-sg');
    await setPortGroups(api, ports.s4!, [g.id]);
    await until(async () => !(await c.ping('s3', ports.s4!.ip, 1)), 10_000, 's4 firewalled');
    // A rule admitting ICMP from the group's members, and s3 in the group: the relayed packet keeps s3's address,
    // so the remote-group match admits it.
    await addRule(api, g.id, { direction: 'ingress', protocol: 'icmp', remoteGroupId: g.id });
    await setPortGroups(api, ports.s3!, [g.id]);
    expect(await c.pingUntil('s3', ports.s4!.ip, 10_000)).toBeGreaterThanOrEqual(0);
    // s2 is no member: still refused.
    expect(await c.ping('s2', ports.s4!.ip, 1)).toBe(false);
    await expectRecomputeEqual(['hv1', 'hv3', 'hv4']);
    await setPortGroups(api, ports.s4!, []);
    await setPortGroups(api, ports.s3!, []);
    expect(await c.pingUntil('s2', ports.s4!.ip, 10_000)).toBeGreaterThanOrEqual(0);
  });

  it('a planned restart of the center agent keeps the center and loses no ping', async () => {
    const run = pingRun(c, 's3', ports.s4!.ip);
    await until(() => run.replies.length > 5, 5_000, 'pings answer');
    await c.stopAgent('hv1', 'SIGTERM');
    await c.startAgent('hv1', { args: ARGS });
    await sleep((TTL + 1) * 1000);
    const sent = await run.stop();
    console.log(`planned restart of the center's agent: ${lost(run)} of ${sent} pings lost (ping -i 0.05)`);
    expect(lost(run)).toBe(0);
    expect(await center()).toBe('hv1');
  });

  it('the center dies: hv2 takes over, pings resume, surviving spokes change only the flows that named the center', async () => {
    const before = { hv3: await dump('hv3'), hv4: await dump('hv4') };
    const run = pingRun(c, 's3', ports.s4!.ip);
    await until(() => run.replies.length > 5, 5_000, 'pings answer');
    const t0 = Date.now();
    await c.stopAgent('hv1', 'SIGKILL');
    await c.sb.hostStop('hv1');
    await until(async () => (await center()) === 'hv2', (TTL + 5) * 1000, 'hv2 center');
    const moved = Date.now() - t0;
    const n = run.replies.length;
    await until(() => run.replies.length > n + 10, 10_000, 'pings answer again');
    await sleep(500);
    await run.stop();
    const gap = outage(run.replies, t0, Date.now());
    console.log(`star center failover: center moved after ${moved} ms, ping outage ${gap.toFixed(0)} ms (lease TTL ${TTL} s)`);
    expect(gap).toBeLessThan((TTL + 1) * 1000 + 1_500);
    // The diff on each surviving spoke: only flows naming the old center (its tunnel IP, its VM) or the new one.
    const oldNames = [ip('hv1'), ports.s1!.mac];
    for (const h of ['hv3', 'hv4'] as const) {
      const after = await dump(h);
      const removed = before[h].filter((l) => !after.includes(l));
      const added = after.filter((l) => !before[h].includes(l));
      console.log(`${h}: ${before[h].length} flows before, ${removed.length} removed, ${added.length} added`);
      for (const l of removed)
        expect(
          oldNames.some((x) => l.includes(x)),
          `${h} removed: ${l}`,
        ).toBe(true);
      for (const l of added) expect(l.includes(ip('hv2')), `${h} added: ${l}`).toBe(true);
      expect(removed.length).toBeGreaterThan(0);
    }
    await expectRecomputeEqual(['hv2', 'hv3', 'hv4']);
  });

  it('OVS restarts on the center, then the store goes away beyond the lease TTL: traffic recovers, no failover', async () => {
    const run = pingRun(c, 's3', ports.s4!.ip);
    try {
      await until(() => run.replies.length > 5, 5_000, 'pings answer');
      let t0 = Date.now();
      await c.sb.hostStop('hv2');
      await c.sb.hostStart('hv2');
      let n = run.replies.length;
      await until(() => run.replies.length > n + 10, 20_000, 'pings answer after the OVS restart');
      console.log(`OVS restart on the center: ping outage ${outage(run.replies, t0, Date.now()).toFixed(0)} ms`);
      t0 = Date.now();
      await c.etcd.members[0]!.kill();
      await sleep((TTL + 2) * 1000);
      await c.etcd.members[0]!.restart();
      n = run.replies.length;
      await until(() => run.replies.length > n + 10, 10_000, 'pings answer after the store outage');
      const gap = outage(run.replies, t0, Date.now());
      console.log(`store outage of ${TTL + 2} s: ping outage ${gap.toFixed(0)} ms`);
      expect(gap).toBeLessThan(1_000);
      await until(async () => (await center().catch(() => null)) === 'hv2', 15_000, 'hv2 still the center');
    } finally {
      await run.stop();
    }
  });

  it('a live switch to mesh and back keeps traffic flowing (hosts the underlay lets meet)', async () => {
    const run = pingRun(c, 's2', ports.s3!.ip);
    try {
      await until(() => run.replies.length > 5, 5_000, 'pings answer');
      await setTopology('mesh');
      await until(async () => (await center()) === null, 10_000, 'the center key gone with the star');
      let n = run.replies.length;
      await until(() => run.replies.length > n + 10, 10_000, 'pings answer in mesh');
      await setTopology('star');
      await until(async () => (await center()) !== null, 10_000, 'a center elected again');
      n = run.replies.length;
      await until(() => run.replies.length > n + 10, 10_000, 'pings answer in star again');
      expect(await c.pingUntil('s3', ports.s4!.ip, 5_000)).toBeGreaterThanOrEqual(0);
    } finally {
      await run.stop();
    }
  });
});
