/**
 * The underlay: one namespace with a Linux bridge (br-ul) that every host is cabled to. Each host's cable end is
 * a port of its netdev bridge br-phy, which carries the tunnel IP (userspace tunnelling: ovs-vswitchd routes
 * and ARPs for tunnel traffic through br-phy).
 */
import { createNetns } from './netns.js';
import type { OvsHost } from './ovs-host.js';
import { names } from './names.js';
import { waitFor } from './proc.js';
import { execCmd, run } from './run.js';
import type { Encap, HostState } from './state.js';

export async function createUnderlay(prefix: string): Promise<void> {
  const ns = names.underlayNetns(prefix);
  await createNetns(ns);
  if ((await execCmd(['ip', '-n', ns, 'link', 'show', 'br-ul'])).code !== 0) {
    await run(['ip', '-n', ns, 'link', 'add', 'br-ul', 'type', 'bridge']);
  }
  await run(['ip', '-n', ns, 'link', 'set', 'br-ul', 'up']);
}

/** Cables a host to the underlay and builds its br-phy with the tunnel IP. */
export async function attachHost(prefix: string, host: HostState, ovs: OvsHost): Promise<void> {
  const ul = names.underlayNetns(prefix);
  const uport = names.underlayPort(prefix, host.index);
  // Both ends are created inside namespaces: nothing ever appears in the root namespace.
  await run(['ip', '-n', ul, 'link', 'add', uport, 'type', 'veth', 'peer', 'name', host.uplink, 'netns', host.netns]);
  await run(['ip', '-n', ul, 'link', 'set', uport, 'master', 'br-ul', 'up']);
  await run(['ip', '-n', host.netns, 'link', 'set', host.uplink, 'up']);
  await ovs.vsctl([
    '--may-exist',
    'add-br',
    'br-phy',
    '--',
    'set',
    'Bridge',
    'br-phy',
    'datapath_type=netdev',
    `other_config:hwaddr="${host.tunnelMac}"`,
    '--',
    '--may-exist',
    'add-port',
    'br-phy',
    host.uplink,
  ]);
  await configureTunnelEndpoint(host, ovs);
}

/**
 * Puts the tunnel IP on br-phy and waits until ovs-vswitchd's route table (learnt from the namespace's kernel
 * routes over netlink) has the underlay subnet — before that, tunnelled packets have no route. Idempotent:
 * also used after an OVS restart.
 */
export async function configureTunnelEndpoint(host: HostState, ovs: OvsHost): Promise<void> {
  await waitFor(`br-phy in ${host.netns}`, async () => (await execCmd(['ip', '-n', host.netns, 'link', 'show', 'br-phy'])).code === 0);
  await run(['ip', '-n', host.netns, 'addr', 'replace', `${host.tunnelIp}/24`, 'dev', 'br-phy']);
  await run(['ip', '-n', host.netns, 'link', 'set', 'br-phy', 'up']);
  const net = host.tunnelIp.replace(/\.\d+$/, '.0/24');
  await waitFor(`OVS route to ${net} on ${host.name}`, async () => (await ovs.appctl(['ovs/route/show'])).includes(net));
}

/** Pre-seeds OVS's tunnel neighbour cache with the peers' br-phy MACs, so no tunnel packet waits for ARP. */
export async function seedNeighbors(ovs: OvsHost, peers: readonly HostState[]): Promise<void> {
  for (const p of peers) await ovs.appctl(['tnl/neigh/set', 'br-phy', p.tunnelIp, p.tunnelMac]);
}

/** Flow-based tunnel ports on br-int (remote_ip=flow, key=flow), for tests that run without an agent. */
export async function ensureTunnelPorts(ovs: OvsHost, host: HostState, encaps: readonly Encap[]): Promise<void> {
  for (const encap of encaps) {
    const port = names.tunnelPort(encap);
    await ovs.vsctl([
      '--may-exist',
      'add-port',
      'br-int',
      port,
      '--',
      'set',
      'Interface',
      port,
      `type=${encap}`,
      'options:remote_ip=flow',
      'options:key=flow',
      `options:local_ip=${host.tunnelIp}`,
    ]);
  }
}

/**
 * Forbids (or, `allow`, permits again) underlay traffic between two hosts in both directions, every other path
 * untouched: an iptables rule on the underlay bridge's forwarding path (br_netfilter hands bridged IPv4 to
 * iptables in the underlay namespace). How tests model firewalled management networks and separate sites.
 */
export async function blockUnderlayPair(prefix: string, a: HostState, b: HostState, allow = false): Promise<void> {
  const ns = names.underlayNetns(prefix);
  // Bridged frames reach iptables only with this on (per namespace; it is what makes the rule apply).
  await run(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']).catch(() => undefined);
  for (const [s, d] of [
    [a.tunnelIp, b.tunnelIp],
    [b.tunnelIp, a.tunnelIp],
  ] as const) {
    const rule = ['FORWARD', '-s', s, '-d', d, '-j', 'DROP'];
    const present = (await execCmd(['ip', 'netns', 'exec', ns, 'iptables', '-C', ...rule])).code === 0;
    if (allow && present) await run(['ip', 'netns', 'exec', ns, 'iptables', '-D', ...rule]);
    if (!allow && !present) await run(['ip', 'netns', 'exec', ns, 'iptables', '-I', ...rule]);
  }
}
