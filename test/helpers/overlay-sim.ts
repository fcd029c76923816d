/**
 * Several hypervisors' computed flows wired together through a simulated underlay (issue 16's unit proofs): each
 * host has its own view (its name, site, tunnel ports, VIFs) of one shared topology, its flows computed by the
 * real apps and FlowComputer, run through a FakeOFTable. A packet a host tunnels is handed to the host owning
 * tun_ipv4_dst, arriving on that host's tunnel port of the same encapsulation with tun_src = the sender: so a
 * test sees every tunnel hop (spokes never tunnelling to each other, only gateways between sites), every delivery
 * to a VM (exactly once for a flood), and any loop (a hop limit).
 */
import { APPS } from '../../src/apps/index.js';
import { FlowComputer } from '../../src/agent/compute.js';
import { FlowManager } from '../../src/flows/manager.js';
import type { CenterLease, Chassis, Network, Port, SiteGatewayLease } from '../../src/model/types.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { TopologyView } from '../../src/view/topology-view.js';
import { FakeOFTable } from './fake-of-table.js';
import { FakeSwitch } from './fake-switch.js';

export const TABLES = new PipelineTables(loadPipeline());
/** Tunnel ofports by encapsulation (the same on every simulated host). */
export const TUNNEL_PORTS: Record<string, number> = { vxlan: 100, geneve: 101, gre: 102 };

export interface SimHost {
  name: string;
  site?: string;
  encaps?: string[];
}

export interface SimTopology {
  hosts: SimHost[];
  network?: Partial<Network>;
  /** VM name → host; VM n (index) gets port key n+1, MAC 02:00:00:00:00:<n+1>, ofport n+1 on its host. */
  vms: Record<string, string>;
  center?: string;
  siteGateways?: Record<string, string>;
}

export const ipOf = (i: number) => `172.31.0.${i + 1}`;

export function macOf(vmIndex: number): string {
  return `02:00:00:00:00:${(vmIndex + 1).toString(16).padStart(2, '0')}`;
}

/** One host's view of the shared topology. */
export function hostView(t: SimTopology, host: string): TopologyView {
  const hi = t.hosts.findIndex((h) => h.name === host);
  const me = t.hosts[hi]!;
  const v = new TopologyView(host, me.encaps ?? ['vxlan']);
  v.site = me.site ?? 'default';
  for (const e of v.encaps) v.tunnelOfports.set(e, TUNNEL_PORTS[e]!);
  t.hosts.forEach((h, i) => {
    const c: Chassis = {
      name: h.name,
      tunnelIp: ipOf(i),
      encaps: h.encaps ?? ['vxlan'],
      version: 't',
      ...(h.site ? { site: h.site } : {}),
    };
    v.chassis.set(h.name, c);
  });
  const ports = new Map<string, { port: Port; binding: { chassis: string; updatedAt: string } }>();
  Object.entries(t.vms).forEach(([vm, h], i) => {
    ports.set(`p${i}`, {
      port: {
        id: `p${i}`,
        name: vm,
        networkId: 'n1',
        mac: macOf(i),
        fixedIps: [],
        portSecurity: false,
        allowedAddressPairs: [],
        securityGroups: [],
        portKey: i + 1,
      },
      binding: { chassis: h, updatedAt: '' },
    });
    if (h === host) v.plugVif({ ifaceName: `tap-${vm}`, ofport: i + 1, ifaceId: vm });
  });
  v.networks.set('n1', { network: { id: 'n1', name: 'n1', tunnelKey: 7, mtu: 1500, ...t.network }, subnets: new Map(), ports });
  if (t.center) v.centers.set('n1', { networkId: 'n1', chassis: t.center, since: '' } satisfies CenterLease);
  for (const [site, chassis] of Object.entries(t.siteGateways ?? {}))
    v.siteGateways.set(site, { site, chassis, since: '' } satisfies SiteGatewayLease);
  return v;
}

export function tableOf(v: TopologyView): FakeOFTable {
  const fm = new FlowManager(new FakeSwitch());
  const computer = new FlowComputer(TABLES, APPS, v, fm);
  return new FakeOFTable(computer.fullRecompute());
}

export interface SimResult {
  /** VM name → times it received the packet. */
  delivered: Map<string, number>;
  /** Every tunnel hop, "from>to" by host name. */
  hops: string[];
  loop: boolean;
}

/** Runs an Ethernet frame sent by `fromVm` through every host's flows, following tunnels. */
export function send(t: SimTopology, fromVm: string, ethDst: string, tablesByHost?: Map<string, FakeOFTable>): SimResult {
  const tablesOf = tablesByHost ?? new Map(t.hosts.map((h) => [h.name, tableOf(hostView(t, h.name))]));
  const vmNames = Object.keys(t.vms);
  const vi = vmNames.indexOf(fromVm);
  const res: SimResult = { delivered: new Map(), hops: [], loop: false };
  type Job = { host: string; pkt: Record<string, string | number | bigint>; depth: number };
  const queue: Job[] = [
    { host: t.vms[fromVm]!, pkt: { in_port: vi + 1, eth_src: macOf(vi), eth_dst: ethDst, eth_type: 0x0800 }, depth: 0 },
  ];
  while (queue.length > 0) {
    const job = queue.shift()!;
    if (job.depth > 12) {
      res.loop = true;
      break;
    }
    const table = tablesOf.get(job.host)!;
    for (const out of table.outputs(job.pkt)) {
      const port = out.port;
      if (typeof port !== 'number') continue;
      const encap = Object.entries(TUNNEL_PORTS).find(([, p]) => p === port)?.[0];
      if (encap) {
        const dstIp = String(out.packet.tun_ipv4_dst);
        const di = t.hosts.findIndex((_, i) => ipOf(i) === dstIp);
        if (di < 0) throw new Error(`tunnel to unknown ${dstIp}`);
        const src = t.hosts.findIndex((h) => h.name === job.host);
        res.hops.push(`${job.host}>${t.hosts[di]!.name}`);
        const peer = t.hosts[di]!;
        if (!(peer.encaps ?? ['vxlan']).includes(encap)) continue; // the peer has no port for it: dropped
        queue.push({
          host: peer.name,
          pkt: {
            in_port: TUNNEL_PORTS[encap]!,
            tun_id: out.packet.tun_id!,
            tun_ipv4_src: ipOf(src),
            tun_ipv4_dst: dstIp,
            eth_src: out.packet.eth_src!,
            eth_dst: out.packet.eth_dst!,
            eth_type: 0x0800,
          },
          depth: job.depth + 1,
        });
      } else {
        const vm = vmNames.find((n, i) => t.vms[n] === job.host && i + 1 === port);
        if (vm) res.delivered.set(vm, (res.delivered.get(vm) ?? 0) + 1);
      }
    }
  }
  return res;
}
