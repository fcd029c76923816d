/**
 * The sandbox's underlay/tunnel recipe, proven without an agent: hand-written flows send a VM's packets into a
 * flow-based tunnel port (tun_dst set per flow) and deliver tunnelled packets to the VM on the other side.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, type Encap, type SandboxHost } from '../../src/sandbox/index.js';
import { leftovers, requireSandboxPrereqs } from './sandbox-helpers.js';

const OF = ['-O', 'OpenFlow13'];

/** ovs-vsctl get, with the quotes it puts around some strings removed. */
async function get(h: SandboxHost, ...args: string[]): Promise<string> {
  return (await h.ovs.vsctl(['get', ...args])).trim().replace(/^"(.*)"$/, '$1');
}

async function ofport(h: SandboxHost, iface: string): Promise<number> {
  return Number((await h.ovs.vsctl(['get', 'Interface', iface, 'ofport'])).trim());
}

/** Replaces br-int's flows on both hosts with a point-to-point path vmA <-> vmB over `encap`. */
async function wire(sb: Sandbox, a: string, b: string, encap: Encap): Promise<void> {
  const va = sb.vm(a);
  const vb = sb.vm(b);
  for (const [self, peer, vm] of [
    [sb.host(va.host), sb.host(vb.host), va],
    [sb.host(vb.host), sb.host(va.host), vb],
  ] as const) {
    const tun = await ofport(self, `tun-${encap}`);
    const port = await ofport(self, vm.ifname);
    const mgmt = self.ovs.mgmtSock();
    await self.ovs.ofctl([...OF, 'del-flows', mgmt]);
    await self.ovs.ofctl([
      ...OF,
      'add-flow',
      mgmt,
      `in_port=${port},actions=set_field:${peer.tunnelIp}->tun_dst,set_field:77->tun_id,output:${tun}`,
    ]);
    await self.ovs.ofctl([...OF, 'add-flow', mgmt, `in_port=${tun},tun_id=77,actions=output:${port}`]);
  }
}

/** Packets that came in through the tunnel port on the host of `vm`. */
async function tunnelRx(sb: Sandbox, vm: string, encap: Encap): Promise<number> {
  const h = sb.host(sb.vm(vm).host);
  const out = await h.ovs.ofctl([...OF, 'dump-flows', h.ovs.mgmtSock(), `in_port=${await ofport(h, `tun-${encap}`)}`]);
  return Number(/n_packets=(\d+)/.exec(out)?.[1] ?? 0);
}

/** One echo at a time with a short timeout, retried (as the OVN anchor does), from inside the VM. */
async function pingUntil(sb: Sandbox, vm: string, ip: string, tries = 25): Promise<boolean> {
  const r = await sb.exec(vm, ['sh', '-c', `for i in $(seq ${tries}); do ping -n -q -c1 -W0.2 ${ip} >/dev/null && exit 0; done; exit 1`]);
  return r.code === 0;
}

describe('sandbox overlay (3 hosts)', () => {
  let sb: Sandbox | undefined;

  beforeAll(async () => {
    requireSandboxPrereqs();
    sb = await Sandbox.up({ hosts: 3, encap: 'vxlan', tunnels: ['vxlan', 'geneve', 'gre'] });
  });
  afterAll(async () => {
    await sb?.down();
  });

  it('brings up 3 hosts with br-int and the tunnel IP on br-phy', async () => {
    const s = sb!;
    expect(s.prefix).toMatch(/^wv[a-z0-9]{4}$/);
    expect(s.hosts.map((h) => h.name)).toEqual(['hv1', 'hv2', 'hv3']);
    const ips = new Set(s.hosts.map((h) => h.tunnelIp));
    expect(ips.size).toBe(3);
    for (const h of s.hosts) {
      expect(h.netns).toBe(`${s.prefix}-${h.name}`);
      expect((await h.ovs.vsctl(['list-br'])).split('\n')).toEqual(expect.arrayContaining(['br-int', 'br-phy']));
      expect(await get(h, 'Bridge', 'br-int', 'fail_mode')).toBe('secure');
      const addr = await h.ovs.exec(['ip', '-o', '-4', 'addr', 'show', 'dev', 'br-phy']);
      expect(addr.stdout).toContain(`${h.tunnelIp}/24`);
      expect(await get(h, 'Interface', 'tun-geneve', 'options:local_ip')).toBe(h.tunnelIp);
    }
  });

  it('adds VMs bound by iface-id and attached-mac, with TX offload off', async () => {
    const s = sb!;
    await s.addVm('hv1', 'a', { portId: 'port-a', ip: '10.7.0.1/24' });
    await s.addVm('hv2', 'b', { portId: 'port-b', ip: '10.7.0.2/24', mac: '0a:00:00:00:00:02' });
    await s.addVm('hv3', 'c', { portId: 'port-c', dhcp: true });
    const hv2 = s.host('hv2');
    const b = s.vm('b');
    expect(await get(hv2, 'Interface', b.ifname, 'external_ids:iface-id')).toBe('port-b');
    expect(await get(hv2, 'Interface', b.ifname, 'external_ids:attached-mac')).toBe('0a:00:00:00:00:02');
    const link = await s.exec('b', ['ip', '-o', 'link', 'show', 'eth0']);
    expect(link.stdout).toContain('0a:00:00:00:00:02');
    expect(link.stdout).toContain('mtu 1400');
    expect((await s.exec('b', ['ethtool', '-k', 'eth0'])).stdout).toMatch(/tx-checksumming: off/);
    expect((await s.exec('c', ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'])).stdout.trim()).toBe('');
    const st = await s.status();
    const vms = st.hosts.flatMap((h) => h.vms);
    expect(vms.map((v) => [v.name, v.portId])).toEqual([
      ['a', 'port-a'],
      ['b', 'port-b'],
      ['c', 'port-c'],
    ]);
    for (const v of vms) expect(v.ofport).toBeGreaterThan(0);
  });

  for (const encap of ['vxlan', 'geneve', 'gre'] as const) {
    it(`a VM on hv1 pings a VM on hv2 over ${encap}`, async () => {
      const s = sb!;
      await wire(s, 'a', 'b', encap);
      const t0 = Date.now();
      expect(await pingUntil(s, 'a', '10.7.0.2')).toBe(true);
      console.log(`# ${encap}: first ping answered after ${Date.now() - t0} ms`);
      expect(await tunnelRx(s, 'b', encap)).toBeGreaterThan(0);
      expect(await tunnelRx(s, 'a', encap)).toBeGreaterThan(0);
    });
  }

  it('host stop kills OVS; host start brings br-int back with its ports and the tunnel working', async () => {
    const s = sb!;
    const hv2 = s.host('hv2');
    const before = await hv2.ovs.pids();
    await s.hostStop('hv2');
    expect(await hv2.ovs.pids()).toEqual({ ovsdb: undefined, vswitchd: undefined });
    expect((await s.status()).hosts[1]!.running).toEqual({ ovsdb: null, vswitchd: null });
    await s.hostStart('hv2');
    const after = await hv2.ovs.pids();
    expect(after.vswitchd).toBeGreaterThan(0);
    expect(after.vswitchd).not.toBe(before.vswitchd);
    const ports = (await hv2.ovs.vsctl(['list-ports', 'br-int'])).split('\n');
    expect(ports).toEqual(expect.arrayContaining([s.vm('b').ifname, 'tun-vxlan']));
    expect(await hv2.ovs.ofctl([...OF, 'show', hv2.ovs.mgmtSock()])).toContain(`(${s.vm('b').ifname})`);
    await wire(s, 'a', 'b', 'vxlan'); // flows do not survive a restart of ovs-vswitchd (no controller here)
    expect(await pingUntil(s, 'a', '10.7.0.2')).toBe(true);
  });

  it('a host added later joins the underlay and reaches the others', async () => {
    const s = sb!;
    const hv4 = await s.addHost();
    expect(hv4.name).toBe('hv4');
    expect((await hv4.ovs.vsctl(['list-ports', 'br-int'])).split('\n')).toContain('tun-vxlan');
    await s.addVm('hv4', 'd', { portId: 'port-d', ip: '10.7.0.4/24' });
    await wire(s, 'd', 'a', 'geneve');
    expect(await pingUntil(s, 'd', '10.7.0.1')).toBe(true);
  });

  it('delVm removes the VM namespace and its br-int port', async () => {
    const s = sb!;
    const c = s.vm('c');
    await s.delVm('c');
    expect(existsSync(`/run/netns/${c.netns}`)).toBe(false);
    expect((await s.host('hv3').ovs.vsctl(['list-ports', 'br-int'])).split('\n')).not.toContain(c.ifname);
    expect(() => s.vm('c')).toThrow(/no VM "c"/);
  });

  it('down leaves no namespace, link, process or run dir', async () => {
    const s = sb!;
    await s.down();
    sb = undefined;
    expect(leftovers(s.prefix, s.runDir)).toEqual({ netns: [], links: [], procs: [] });
    expect(existsSync(s.runDir)).toBe(false);
    await s.down(); // idempotent: everything is already gone
  });
});
