/**
 * A simulated VM: a namespace whose eth0 is one end of a veth; the other end is a port of br-int on its host,
 * bound with external_ids:iface-id (the libvirt / OVN convention) and attached-mac.
 */
import { createNetns, deleteNetns, netnsPids } from './netns.js';
import type { OvsHost } from './ovs-host.js';
import { killAndWait } from './proc.js';
import { run } from './run.js';
import type { HostState, VmState } from './state.js';

export async function createVm(vm: VmState, host: HostState, ovs: OvsHost): Promise<void> {
  await wireVm({ ...vm, hostNetns: host.netns });
  await plugVm(vm, ovs);
}

/** What wiring a VM needs: its namespace, the host-side veth end in the host's namespace, MAC, MTU, address. */
export interface VmWiring {
  netns: string;
  hostNetns: string;
  ifname: string;
  mac: string;
  mtu: number;
  /** CIDR form (a.b.c.d/len); none for a VM that will ask DHCP. */
  ip?: string;
  gateway?: string;
}

/**
 * A VM's namespace and its eth0, one end of a veth whose other end is `ifname` in the host's namespace: addressed
 * and up, not plugged into br-int (the sandbox and the benches plug it their own way).
 */
export async function wireVm(vm: VmWiring): Promise<void> {
  const ns = vm.netns;
  const mtu = String(vm.mtu);
  await createNetns(ns);
  await run([
    'ip',
    '-n',
    vm.hostNetns,
    'link',
    'add',
    vm.ifname,
    'mtu',
    mtu,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'mtu',
    mtu,
    'netns',
    ns,
  ]);
  await run(['ip', '-n', ns, 'link', 'set', 'eth0', 'address', vm.mac]);
  // No partial checksums into the userspace datapath (they would leave the VM wrong on the wire).
  await run(['ip', 'netns', 'exec', ns, 'ethtool', '-K', 'eth0', 'tx', 'off']);
  // Retry ARP every 10 ms (default 1 s): readiness probes then measure the network, not the ARP timer.
  await run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.neigh.eth0.retrans_time_ms=10', 'net.ipv4.neigh.eth0.mcast_solicit=30']);
  if (vm.ip) await run(['ip', '-n', ns, 'addr', 'add', vm.ip, 'dev', 'eth0']);
  await run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  if (vm.ip && vm.gateway) await run(['ip', '-n', ns, 'route', 'add', 'default', 'via', vm.gateway, 'dev', 'eth0']);
  await run(['ip', '-n', vm.hostNetns, 'link', 'set', vm.ifname, 'up']);
}

/** Adds the VM's port to br-int in one transaction; resolves once ovs-vswitchd has applied it. */
export async function plugVm(vm: VmState, ovs: OvsHost): Promise<void> {
  await ovs.vsctl([
    '--may-exist',
    'add-port',
    'br-int',
    vm.ifname,
    '--',
    'set',
    'Interface',
    vm.ifname,
    ...Object.entries(vm.externalIds ?? { 'iface-id': vm.portId, 'attached-mac': vm.mac }).map(([k, v]) => `external_ids:"${k}"="${v}"`),
  ]);
}

/**
 * Unplugs and removes a VM. With the host's OVS down the port row is removed without waiting for
 * ovs-vswitchd; with ovsdb-server down too it stays in the db (harmless: its interface is gone).
 */
export async function deleteVm(vm: VmState, ovs: OvsHost): Promise<void> {
  const p = await ovs.pids();
  if (p.ovsdb !== undefined) {
    await ovs.vsctl([...(p.vswitchd === undefined ? ['--no-wait'] : []), '--if-exists', 'del-port', 'br-int', vm.ifname]);
  }
  for (const pid of await netnsPids(vm.netns)) await killAndWait(pid, 'SIGTERM', 2_000);
  await deleteNetns(vm.netns); // takes eth0, and so its veth peer, with it
}
