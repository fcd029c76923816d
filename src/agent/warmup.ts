/**
 * JIT warm-up of the agent's event path. An agent handles a port event only now and then, so without this
 * every event runs V8's unoptimised code: on a busy 2-vCPU hypervisor a port's recompute and bundle encode cost
 * several ms of CPU on each host, and that CPU competes with the VM being started. Running the same code on a
 * synthetic network at start-up (in small slices, after the agent is serving) lets V8 optimise it first.
 *
 * The synthetic topology goes through the real path — documents encoded by the model, parsed by TopologySync
 * into a private view, flows computed by the real apps, diffed by a FlowManager and encoded as the bundle adds
 * the channel would send — so the objects have the shapes the live ones have. Nothing leaves the process:
 * the FlowManager's channel encodes the messages and drops them.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { NetworkApp } from '../apps/types.js';
import { FlowManager, type FlowChannel } from '../flows/manager.js';
import { encodeBinding, encodeNetwork, encodePort, encodeSubnet } from '../model/codec.js';
import { bindingKey, chassisKey, networkKey, portKey, subnetKey } from '../model/keys.js';
import type { Port } from '../model/types.js';
import { encodeMessage, type OfMessage } from '../openflow/index.js';
import type { PipelineTables } from '../pipeline/tables.js';
import { silentLogger } from '../util/log.js';
import { FlowComputer } from './compute.js';
import { TopologySync } from './topology-sync.js';
import { TopologyView } from './view.js';

const NET = '00000000-0000-4000-8000-00000000000a';
const SUBNET = '00000000-0000-4000-8000-00000000000b';
const PORTS = 24;

/** A FlowChannel that is always up and encodes every message as the real bundle would, then drops it. */
class EncodeOnlyChannel implements FlowChannel {
  readonly isUp = true;
  encoded = 0;
  async bundle(msgs: OfMessage[]): Promise<void> {
    this.encoded += msgs.length;
    for (let i = 0; i < msgs.length; i++) {
      encodeMessage({ type: 'BUNDLE_ADD', xid: i + 1, bundleId: 1, flags: 3, message: { ...msgs[i]!, xid: i + 1 } });
    }
  }
  async dumpFlows(): Promise<never[]> {
    return [];
  }
  async send(msg: OfMessage): Promise<void> {
    encodeMessage(msg);
  }
  async barrier(): Promise<void> {}
  on(): this {
    return this;
  }
  off(): this {
    return this;
  }
}

const portId = (i: number) => `00000000-0000-4000-8000-${(0x100 + i).toString(16).padStart(12, '0')}`;

/**
 * Runs `rounds` recomputes of a 24-port network whose ports move between hosts, yielding to the event loop
 * every few rounds. Resolves with the number of flow messages encoded; never throws (a warm-up failure must not
 * affect the agent).
 */
export async function warmUp(tables: PipelineTables, apps: NetworkApp[], encap: string, rounds = 150): Promise<number> {
  const view = new TopologyView('warmup-hv1', encap);
  view.tunnelOfport = 1;
  const sync = new TopologySync(view, { add: () => undefined, remove: () => undefined, prefixes: () => [] }, silentLogger, false);
  for (let h = 1; h <= 3; h++) {
    sync.applyPut(chassisKey(`warmup-hv${h}`), JSON.stringify({ name: `warmup-hv${h}`, tunnelIp: `192.0.2.${h}`, encaps: [encap], version: 'warmup', registeredAt: new Date(0).toISOString() }));
  }
  sync.applyPut(networkKey(NET), encodeNetwork({ id: NET, name: 'warmup', tunnelKey: 16_000_000, mtu: 1450 }));
  sync.applyPut(subnetKey(NET, SUBNET), encodeSubnet({
    id: SUBNET, name: 'warmup', networkId: NET, cidr: '10.255.0.0/24', gatewayIp: '10.255.0.1', enableDhcp: true,
    dnsServers: ['10.255.0.2'], hostRoutes: [], leaseTime: 3600, dhcpOptions: [],
  }));
  for (let i = 1; i <= PORTS; i++) {
    const p: Port = {
      id: portId(i), name: `warmup-${i}`, networkId: NET, mac: `02:ff:00:00:00:${i.toString(16).padStart(2, '0')}`,
      fixedIps: [{ subnetId: SUBNET, ip: `10.255.0.${10 + i}` }], portSecurity: true, allowedAddressPairs: [], portKey: 0xfff0_0000 + i,
    };
    sync.applyPut(portKey(NET, p.id), encodePort(p));
    sync.applyPut(bindingKey(NET, p.id), encodeBinding({ chassis: `warmup-hv${(i % 3) + 1}`, updatedAt: new Date(0).toISOString() }));
    if (i % 3 === 0) view.plugVif({ ifaceName: `warmup-${i}`, ofport: 100 + i, ifaceId: p.name });
  }
  const channel = new EncodeOnlyChannel();
  const flows = new FlowManager(channel);
  const computer = new FlowComputer(tables, apps, view, flows);
  try {
    await flows.activate();
    for (let r = 0; r < rounds; r++) {
      // A port moves between the two remote hosts: a real change every round (new flows to diff and encode).
      const moving = portId(1 + (r % PORTS));
      sync.applyPut(bindingKey(NET, moving), encodeBinding({ chassis: `warmup-hv${2 + (r % 2)}`, updatedAt: new Date(0).toISOString() }));
      computer.markDirty(NET);
      computer.flush();
      await flows.sync();
      if (r % 10 === 9) await nextTurn();
    }
  } catch {
    // Only a warm-up: the live path reports its own errors.
  } finally {
    flows.close();
  }
  return channel.encoded;
}
