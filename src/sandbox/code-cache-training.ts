/**
 * Trains the agent bundle's V8 code cache (dist/agent/agent.cjs.v8cache) on real agent starts: a fresh host of a
 * sandbox (real Open vSwitch) joins a topology in a real store, its agent runs from the bundle's boot with
 * WYVERN_TRAIN_CODE_CACHE=1, and once its first flows are on the switch the boot writes the cache of everything
 * that start compiled (scripts/agent-boot.cjs). Each run starts from the cache the previous one wrote, so a level
 * store's run and an etcd one add up. Why: docs/footprint.md, "Start-up, fourth pass".
 *
 * The topology is what a hypervisor's start meets: two networks (one with DHCP) joined by a router, a security
 * group on a port, VMs of both networks on the fresh host, and on etcd another chassis with a VM (tunnels).
 */
import { ApiClient } from '../api/client.js';
import { agentOf, startAgent, stopAgent } from './agents.js';
import { startEtcd, type EtcdCluster } from './etcd.js';
import { Sandbox } from './index.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export type TrainingStore = 'level' | 'etcd';

export interface TrainingOptions {
  /** The agent's command, up to its arguments: the runtime, its flags and dist/agent/boot.cjs. */
  command: string[];
  stores: TrainingStore[];
  log?: (line: string) => void;
}

const TRAINED = /agent code cache trained: (\d+) bytes/;
const hex = (n: number) => n.toString(16).padStart(2, '0');

/** Runs one training start per store, in order; resolves with the cache's size after each. */
export async function trainAgentCodeCache(opts: TrainingOptions): Promise<{ store: TrainingStore; bytes: number }[]> {
  const done: { store: TrainingStore; bytes: number }[] = [];
  for (const store of opts.stores) done.push({ store, bytes: await trainOn(store, opts) });
  return done;
}

async function trainOn(kind: TrainingStore, opts: TrainingOptions): Promise<number> {
  const log = opts.log ?? (() => undefined);
  // The set-up agent runs the same command, with the cache as it is.
  const { command } = opts;
  let sb: Sandbox | undefined;
  let etcd: EtcdCluster | undefined;
  try {
    sb = await Sandbox.up({ hosts: 1, encap: 'geneve' });
    if (kind === 'etcd') etcd = await startEtcd();
    const store = etcd ? etcd.url : `level:${join(sb.runDir, 'store')}`;
    await startAgent(sb, 'hv1', { store, lazySync: true, command });
    const api = new ApiClient(agentOf(sb.host('hv1'))!.api);
    await api.call('POST', '/v1/networks', { name: 'ls0' });
    await api.call('POST', '/v1/subnets', { name: 'ls0-sub', network: 'ls0', cidr: '10.0.0.0/24', enableDhcp: true });
    await api.call('POST', '/v1/networks', { name: 'ls1' });
    await api.call('POST', '/v1/subnets', { name: 'ls1-sub', network: 'ls1', cidr: '10.0.1.0/24' });
    await api.call('POST', '/v1/routers', { name: 'r0' });
    for (const sub of ['ls0-sub', 'ls1-sub']) await api.call('POST', '/v1/routers/r0/interfaces', { subnet: sub });
    const group = await api.call<{ id: string }>('POST', '/v1/security-groups', { name: 'web' });
    const vms: { host: number; name: string; net: number }[] = [
      { host: 1, name: 'vm1-1', net: 0 },
      { host: 2, name: 'vm2-1', net: 0 },
      { host: 2, name: 'vm2-2', net: 0 },
      { host: 2, name: 'vm2-3', net: 1 },
    ];
    const ports = new Map<string, { mac: string; ip: string }>();
    for (const [i, vm] of vms.entries()) {
      const mac = `0a:00:00:00:${hex(vm.host)}:${hex(i + 1)}`;
      const ip = `10.0.${vm.net}.${10 + i}`;
      const p = await api.call<{ id: string }>('POST', '/v1/ports', { name: vm.name, network: `ls${vm.net}`, mac, fixedIps: [{ ip }] });
      if (vm.name === 'vm2-1') await api.call('PATCH', `/v1/ports/${p.id}`, { securityGroups: [group.id] });
      ports.set(vm.name, { mac, ip });
    }
    // A level store has one user at a time; on etcd the first chassis stays, with its VM (tunnels to it).
    if (etcd) await sb.addVm('hv1', 'vm1-1', { portId: 'vm1-1', ...vmAddress(ports.get('vm1-1')!) });
    else await stopAgent(sb, 'hv1');
    const fresh = await sb.addHost();
    for (const vm of vms.filter((v) => v.host === 2))
      await sb.addVm(fresh.name, vm.name, { portId: vm.name, ...vmAddress(ports.get(vm.name)!) });
    const info = await startAgent(sb, fresh.name, { store, lazySync: true, command, env: { WYVERN_TRAIN_CODE_CACHE: '1' } });
    const bytes = await trainedBytes(info.log, 30_000);
    log(`agent code cache trained on ${kind}: ${bytes} bytes`);
    return bytes;
  } finally {
    await sb?.down().catch((err: Error) => log(`sandbox teardown: ${err.message}`));
    await etcd?.stop();
  }
}

function vmAddress(p: { mac: string; ip: string }): { mac: string; ip: string } {
  return { mac: p.mac, ip: `${p.ip}/24` };
}

/** The size the training agent reports once it wrote the cache (its log), waiting for it up to `timeoutMs`. */
async function trainedBytes(logFile: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = TRAINED.exec(await readFile(logFile, 'utf8').catch(() => ''));
    if (m) return Number(m[1]);
    if (Date.now() > deadline) throw new Error(`the training agent wrote no code cache within ${timeoutMs} ms; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
