/**
 * Overlay paths (issue 16): next hops, relays and flood plans for mesh and star networks within and across sites,
 * checked two ways — the pure functions directly, and every host's real flows wired together through a simulated
 * underlay (overlay-sim): unicast reaches its VM exactly once by the expected tunnels, a flood reaches every other
 * VM exactly once, spokes never tunnel to each other, only site gateways tunnel between sites, nothing loops.
 */
import { describe, expect, it } from 'vitest';
import { floodPlan, hubOf, isRelay, nextHop, nextHopChassis, overlayProblems } from '../../src/view/overlay-paths.js';
import { hostView, macOf, send, tableOf, type SimTopology } from '../helpers/overlay-sim.js';

const BCAST = 'ff:ff:ff:ff:ff:ff';
const four = (topology: 'mesh' | 'star', center?: string): SimTopology => ({
  hosts: ['hv1', 'hv2', 'hv3', 'hv4'].map((name) => ({ name })),
  network: { topology },
  vms: { a: 'hv1', b: 'hv2', c: 'hv3', d: 'hv4' },
  ...(center ? { center } : {}),
});

/** Two sites: paris (hv1..hv3, gateway hv1) and lyon (hv4..hv6, gateway hv5); the gateways host no VM of the network. */
const twoSites = (
  topology: 'mesh' | 'star',
  center?: string,
  gws: Record<string, string> = { paris: 'hv1', lyon: 'hv5' },
): SimTopology => ({
  hosts: [
    { name: 'hv1', site: 'paris' },
    { name: 'hv2', site: 'paris' },
    { name: 'hv3', site: 'paris' },
    { name: 'hv4', site: 'lyon' },
    { name: 'hv5', site: 'lyon' },
    { name: 'hv6', site: 'lyon' },
  ],
  network: { topology },
  vms: { b: 'hv2', c: 'hv3', d: 'hv4', f: 'hv6' },
  ...(center ? { center } : {}),
  siteGateways: gws,
});

/** Checks every VM pair (unicast) and every VM's broadcast: exactly-once delivery, no loop; returns all hops. */
function checkAll(t: SimTopology): Set<string> {
  const vms = Object.keys(t.vms);
  const hops = new Set<string>();
  const tablesByHost = new Map(t.hosts.map((h) => [h.name, tableOf(hostView(t, h.name))]));
  vms.forEach((src) => {
    vms.forEach((dst, di) => {
      if (dst === src) return;
      const r = send(t, src, macOf(di), tablesByHost);
      expect(r.loop, `${src}->${dst} loops`).toBe(false);
      expect(Object.fromEntries(r.delivered), `${src}->${dst}`).toEqual({ [dst]: 1 });
      r.hops.forEach((h) => hops.add(h));
    });
    const b = send(t, src, BCAST, tablesByHost);
    expect(b.loop, `${src} broadcast loops`).toBe(false);
    expect(Object.fromEntries(b.delivered), `${src} broadcast`).toEqual(
      Object.fromEntries(vms.filter((v) => v !== src).map((v) => [v, 1])),
    );
    b.hops.forEach((h) => hops.add(h));
  });
  return hops;
}

describe('next hop', () => {
  it('mesh: the target itself; star: the center, or the target from the center or for the center', () => {
    const mesh = hostView(four('mesh'), 'hv3');
    const m = mesh.networks.get('n1')!;
    expect(nextHopChassis(mesh, m, 'hv4')).toBe('hv4');
    expect(isRelay(mesh, m)).toBe(false);
    const star = hostView(four('star', 'hv1'), 'hv3');
    const s = star.networks.get('n1')!;
    expect(nextHop(star, s, 'hv4')).toEqual({ kind: 'hop', chassis: 'hv1', tunnelIp: '172.31.0.1', encap: 'vxlan' });
    expect(nextHopChassis(star, s, 'hv1')).toBe('hv1');
    expect(isRelay(star, s)).toBe(false);
    const center = hostView(four('star', 'hv1'), 'hv1');
    const c = center.networks.get('n1')!;
    expect(nextHopChassis(center, c, 'hv4')).toBe('hv4');
    expect(isRelay(center, c)).toBe(true);
  });

  it('star without a center: no path and the reason, never a direct tunnel', () => {
    const v = hostView(four('star'), 'hv3');
    const n = v.networks.get('n1')!;
    expect(nextHop(v, n, 'hv4')).toEqual({ kind: 'none', reason: 'star network n1: no center elected for site default' });
    expect(overlayProblems(v, n)).toEqual(['star network n1: no center elected for site default']);
    expect(floodPlan(v, n).own).toEqual([]);
    const mesh = hostView(four('mesh'), 'hv3');
    expect(overlayProblems(mesh, mesh.networks.get('n1')!)).toEqual([]);
  });

  it('sites: a host goes to its gateway (through its hub in a star), gateways to each other', () => {
    const t = twoSites('mesh');
    const hv2 = hostView(t, 'hv2');
    const n = hv2.networks.get('n1')!;
    expect(nextHopChassis(hv2, n, 'hv3')).toBe('hv3');
    expect(nextHopChassis(hv2, n, 'hv6')).toBe('hv1');
    const hv1 = hostView(t, 'hv1');
    expect(nextHopChassis(hv1, hv1.networks.get('n1')!, 'hv6')).toBe('hv5');
    expect(nextHopChassis(hv1, hv1.networks.get('n1')!, 'hv4')).toBe('hv5');
    // A star whose center is in paris: in lyon, the site gateway is the hub.
    const s = twoSites('star', 'hv3');
    const hv4 = hostView(s, 'hv4');
    const sn = hv4.networks.get('n1')!;
    expect(hubOf(hv4, sn, 'lyon')).toBe('hv5');
    expect(hubOf(hv4, sn, 'paris')).toBe('hv3');
    expect(nextHopChassis(hv4, sn, 'hv6')).toBe('hv5');
    expect(nextHopChassis(hv4, sn, 'hv2')).toBe('hv5');
    const shv2 = hostView(s, 'hv2');
    expect(nextHopChassis(shv2, shv2.networks.get('n1')!, 'hv6')).toBe('hv3'); // to its center, which passes it to hv1
    // No gateway in lyon: lyon unreachable from paris, said so.
    const none = hostView(twoSites('mesh', undefined, { paris: 'hv1' }), 'hv1');
    expect(nextHop(none, none.networks.get('n1')!, 'hv6')).toEqual({ kind: 'none', reason: 'no gateway elected for site lyon' });
  });

  it('no encapsulation in common: no direct path, but a hub offering both relays between them', () => {
    const t: SimTopology = {
      hosts: [
        { name: 'hv1', encaps: ['vxlan', 'geneve'] },
        { name: 'hv2', encaps: ['vxlan'] },
        { name: 'hv3', encaps: ['geneve'] },
      ],
      network: { topology: 'mesh' },
      vms: { a: 'hv1', b: 'hv2', c: 'hv3' },
    };
    const v = hostView(t, 'hv2');
    expect(nextHop(v, v.networks.get('n1')!, 'hv3')).toMatchObject({
      kind: 'none',
      reason: expect.stringMatching(/no encapsulation in common with hv3/),
    });
    const star = { ...t, network: { topology: 'star' as const }, center: 'hv1' };
    const hops = checkAll(star);
    expect([...hops].sort()).toEqual(['hv1>hv2', 'hv1>hv3', 'hv2>hv1', 'hv3>hv1']);
  });
});

describe("every host's flows together (simulated underlay)", () => {
  it('mesh: every pair directly', () => {
    const hops = checkAll(four('mesh'));
    expect(hops.has('hv3>hv4')).toBe(true);
  });

  for (const center of ['hv1', 'hv2', 'hv3', 'hv4'])
    it(`star centred on ${center}: spokes only ever tunnel to the center, every VM reached exactly once`, () => {
      const hops = checkAll(four('star', center));
      for (const h of hops) expect(h.split('>'), h).toContain(center);
    });

  it('star where one host has no VM of the network: it takes no part, the others still meet through the center', () => {
    const t = { ...four('star', 'hv2'), vms: { a: 'hv1', b: 'hv2', c: 'hv3' } };
    checkAll(t);
  });

  const cases: [string, SimTopology][] = [
    ['mesh sites', twoSites('mesh')],
    ['star sites, center in paris', twoSites('star', 'hv3')],
    ['star sites, center on the paris gateway', twoSites('star', 'hv1')],
    ['star sites, center in lyon', twoSites('star', 'hv4')],
    ['mesh sites, gateways hosting VMs', twoSites('mesh', undefined, { paris: 'hv2', lyon: 'hv4' })],
    ['star sites, gateways hosting VMs, center on one', twoSites('star', 'hv4', { paris: 'hv2', lyon: 'hv4' })],
  ];
  for (const [name, t] of cases)
    it(`${name}: across sites only gateway to gateway; exactly once; no loops`, () => {
      const site = (h: string) => t.hosts.find((x) => x.name === h)!.site;
      const gws = new Set(Object.values(t.siteGateways!));
      const hops = checkAll(t);
      for (const h of hops) {
        const [a, b] = h.split('>') as [string, string];
        if (site(a) !== site(b)) expect(gws.has(a) && gws.has(b), h).toBe(true);
      }
      if (t.network?.topology === 'star')
        for (const h of hops) {
          const [a, b] = h.split('>') as [string, string];
          if (site(a) !== site(b)) continue;
          const hub = site(a) === site(t.center!) ? t.center! : t.siteGateways![site(a)!]!;
          expect([a, b], h).toContain(hub);
        }
    });

  it('a relay forwards tunnel to tunnel by clearing in_port; a spoke never does', () => {
    const t = four('star', 'hv1');
    const center = tableOf(hostView(t, 'hv1'));
    const spoke = tableOf(hostView(t, 'hv3'));
    const fromHv3 = { in_port: 100, tun_id: 7, tun_ipv4_src: '172.31.0.3', eth_src: macOf(2), eth_dst: macOf(3), eth_type: 0x0800 };
    expect(center.outputs(fromHv3).map((o) => [o.port, o.packet.tun_ipv4_dst])).toEqual([[100, '172.31.0.4']]);
    expect(spoke.outputs({ ...fromHv3, tun_ipv4_src: '172.31.0.1', eth_src: macOf(0) })).toEqual([]);
  });
});

describe('incremental == full under center, site gateway, site and topology changes', () => {
  it('200 random changes, each marked as the sync marks it (center or network: that network; site gateway: all; chassis: all if a lease names it, else the networks it hosts)', async () => {
    const { FlowComputer } = await import('../../src/agent/compute.js');
    const { FlowManager } = await import('../../src/flows/manager.js');
    const { APPS } = await import('../../src/apps/index.js');
    const { FakeSwitch } = await import('../helpers/fake-switch.js');
    const { TABLES } = await import('../helpers/overlay-sim.js');
    const t = twoSites('star', 'hv3');
    for (const me of ['hv1', 'hv2', 'hv4']) {
      const v = hostView(t, me);
      const net = v.networks.get('n1')!;
      const computer = new FlowComputer(TABLES, APPS, v, new FlowManager(new FakeSwitch()));
      computer.markAllDirty();
      computer.flush();
      let seed = 42;
      const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
      const hosts = t.hosts.map((h) => h.name);
      for (let i = 0; i < 200; i++) {
        const op = rnd(5);
        if (op === 0) {
          const c = rnd(hosts.length + 1);
          if (c === hosts.length) v.centers.delete('n1');
          else v.centers.set('n1', { networkId: 'n1', chassis: hosts[c]!, since: '' });
          computer.markDirty('n1');
        } else if (op === 1) {
          const site = rnd(2) ? 'paris' : 'lyon';
          const c = rnd(hosts.length + 1);
          if (c === hosts.length) v.siteGateways.delete(site);
          else v.siteGateways.set(site, { site, chassis: hosts[c]!, since: '' });
          computer.markAllDirty();
        } else if (op === 2) {
          const name = hosts[rnd(hosts.length)]!;
          if (name !== me) v.chassis.set(name, { ...v.chassis.get(name)!, site: rnd(2) ? 'paris' : 'lyon' });
          // As TopologySync.changedChassis marks it: everything when a lease names the chassis, else the networks
          // with a port bound there.
          const leased = [...v.centers.values(), ...v.siteGateways.values()].some((l) => l.chassis === name);
          if (leased) computer.markAllDirty();
          else if ([...net.ports.values()].some((ps) => ps.binding?.chassis === name)) computer.markDirty('n1');
        } else if (op === 3) {
          net.network = { ...net.network, topology: rnd(2) ? 'star' : 'mesh' };
          computer.markDirty('n1');
        } else {
          const id = `p${rnd(4)}`;
          const ps = net.ports.get(id)!;
          if (ps.binding?.chassis === me) continue;
          const to = hosts.filter((h) => h !== me)[rnd(hosts.length - 1)]!;
          ps.binding = { chassis: to, updatedAt: '' };
          computer.markPortsDirty('n1', [id]);
        }
        computer.flush();
        const cmp = computer.compare();
        expect(cmp, `${me} after change ${i} (op ${op})`).toMatchObject({ equal: true });
      }
    }
  });
});
