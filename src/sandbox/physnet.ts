/**
 * The sandbox's physical network (provider networks, issue 14): a plain Linux bridge `br-pn` in the underlay
 * namespace is the physical segment (it forwards 802.1Q-tagged frames as they are). Each host gets an OVS bridge
 * br-ex (netdev, like br-int; standalone: a NORMAL learning switch, the operator's bridge) whose uplink is cabled
 * to br-pn; its agent maps physnet1 to br-ex. An "outside" namespace on br-pn is a host outside the cloud
 * (203.0.113.1/24 untagged; tests add VLAN subinterfaces there).
 */
import { createNetns } from './netns.js';
import type { OvsHost } from './ovs-host.js';
import { names } from './names.js';
import { execCmd, run } from './run.js';
import type { HostState, PhysnetState } from './state.js';

export const PHYSNET_DEFAULTS = { name: 'physnet1', bridge: 'br-ex', segment: 'br-pn', outsideIp: '203.0.113.1/24' };

export function physnetState(prefix: string, name = PHYSNET_DEFAULTS.name): PhysnetState {
  return {
    name,
    bridge: PHYSNET_DEFAULTS.bridge,
    segment: PHYSNET_DEFAULTS.segment,
    segmentNetns: names.underlayNetns(prefix),
    outsideNetns: `${prefix}-out`,
    outsideIp: PHYSNET_DEFAULTS.outsideIp,
  };
}

/** The physical segment and the outside host. */
export async function createPhysnet(prefix: string, p: PhysnetState): Promise<void> {
  const ns = p.segmentNetns;
  if ((await execCmd(['ip', '-n', ns, 'link', 'show', p.segment])).code !== 0) {
    await run(['ip', '-n', ns, 'link', 'add', p.segment, 'type', 'bridge']);
  }
  await run(['ip', '-n', ns, 'link', 'set', p.segment, 'up']);
  await createNetns(p.outsideNetns);
  const port = `${prefix}o0`;
  await run(['ip', '-n', ns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p.outsideNetns]);
  await run(['ip', '-n', ns, 'link', 'set', port, 'master', p.segment, 'up']);
  await run(['ip', '-n', p.outsideNetns, 'link', 'set', 'lo', 'up']);
  await run(['ip', '-n', p.outsideNetns, 'addr', 'add', p.outsideIp, 'dev', 'eth0']);
  await run(['ip', '-n', p.outsideNetns, 'link', 'set', 'eth0', 'up']);
  await execCmd(['ip', 'netns', 'exec', p.outsideNetns, 'ethtool', '-K', 'eth0', 'tx', 'off']);
}

/** Cables a host to the physical segment: br-ex with the uplink `<prefix>e<i>` (the operator's part of the host). */
export async function attachPhysnet(prefix: string, host: HostState, ovs: OvsHost, p: PhysnetState): Promise<void> {
  const seg = `${prefix}x${host.index}`;
  const uplink = `${prefix}e${host.index}`;
  await run(['ip', '-n', p.segmentNetns, 'link', 'add', seg, 'type', 'veth', 'peer', 'name', uplink, 'netns', host.netns]);
  await run(['ip', '-n', p.segmentNetns, 'link', 'set', seg, 'master', p.segment, 'up']);
  await run(['ip', '-n', host.netns, 'link', 'set', uplink, 'up']);
  await execCmd(['ip', 'netns', 'exec', host.netns, 'ethtool', '-K', uplink, 'tx', 'off']);
  await ovs.vsctl([
    '--may-exist',
    'add-br',
    p.bridge,
    '--',
    'set',
    'Bridge',
    p.bridge,
    'datapath_type=netdev',
    '--',
    '--may-exist',
    'add-port',
    p.bridge,
    uplink,
  ]);
}
