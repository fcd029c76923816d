/**
 * Every encapsulation with the agent (issue 16's encapsulation requirement): for each of VXLAN, Geneve and GRE, two
 * hypervisors whose agents speak only that encapsulation carry L2 across the tunnel, DHCP from the agents with an
 * MTU (option 26) that leaves room for that encapsulation's header — a full-size packet with DF set crosses the
 * 1500-byte underlay — and routing between two networks through a distributed router.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Encap } from '../../src/model/types.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';

/** Bytes each encapsulation adds around a VM's IP packet (inner Ethernet + tunnel header + outer UDP/IP). */
const OVERHEAD: Record<Encap, number> = { vxlan: 50, geneve: 58, gre: 42 };
/** The sandbox's underlay MTU, and so the networks' (the MTU a VM gets is this less the overhead). */
const UNDERLAY_MTU = 1500;

describe.each(['vxlan', 'geneve', 'gre'] as Encap[])('%s with the agent: L2, DHCP and its MTU, routing', (encap) => {
  let c: Cluster;
  const ports: Record<string, PortInfo> = {};
  const ips: Record<string, string> = {};
  const mtus: Record<string, number | undefined> = {};

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 2, encap });
    await c.network('a', '10.1.0.0/24', { dhcp: true, mtu: UNDERLAY_MTU });
    await c.network('b', '10.2.0.0/24', { dhcp: true, mtu: UNDERLAY_MTU });
    await c.api().call('POST', '/v1/routers', { name: 'r1' });
    await c.api().call('POST', '/v1/routers/r1/interfaces', { subnet: 'a-sub' });
    await c.api().call('POST', '/v1/routers/r1/interfaces', { subnet: 'b-sub' });
    for (const [vm, host, net] of [
      ['a1', 'hv1', 'a'],
      ['a2', 'hv2', 'a'],
      ['b2', 'hv2', 'b'],
    ] as const) {
      ports[vm] = await c.port(vm, net);
      // The VM's link (both veth ends) starts at the underlay's MTU, as a hypervisor's tap would; the lease's MTU
      // then lowers the VM's side, as a DHCP client does.
      await c.vm(host, vm, ports[vm]!, 24, { dhcp: true, mtu: UNDERLAY_MTU });
      const lease = await c.sb.dhcp(vm);
      ips[vm] = lease.ip;
      mtus[vm] = lease.mtu;
    }
  }, 120_000);

  afterAll(async () => {
    await c?.down();
  });

  it('every VM gets its address by DHCP, with the MTU that leaves room for the header', () => {
    for (const vm of ['a1', 'a2', 'b2']) {
      expect(ips[vm], vm).toBe(ports[vm]!.ip);
      expect(mtus[vm], vm).toBe(UNDERLAY_MTU - OVERHEAD[encap]);
    }
  });

  it('L2 across the tunnel, and a full-size packet (DF set) at that MTU crosses it', async () => {
    expect(await c.pingUntil('a1', ips.a2!, 5_000)).toBeGreaterThanOrEqual(0);
    const size = UNDERLAY_MTU - OVERHEAD[encap] - 28; // ICMP payload filling the VM's MTU
    const r = await c.sb.exec('a1', ['ping', '-c', '3', '-W', '1', '-M', 'do', '-s', String(size), '-n', ips.a2!]);
    expect(r.stdout, r.stdout + r.stderr).toMatch(/ 0% packet loss/);
  });

  it('routing between the two networks through the distributed router, across the tunnel', async () => {
    expect(await c.pingUntil('a1', ips.b2!, 5_000)).toBeGreaterThanOrEqual(0);
    expect(await c.ping('b2', ips.a1!, 1)).toBe(true);
  });
});
