/**
 * A sandbox of simulated hypervisors on real Open vSwitch: hosts (namespaces with their own OVS, br-int and a
 * tunnel IP on br-phy) cabled to a shared underlay, and VMs (namespaces with a veth on a host's br-int).
 * Everything it makes is named with its prefix and recorded in runDir/state.json, so another process can
 * load it (CLI) and a crashed owner's sandbox can be swept.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../util/log.js';
import { checkCidr, checkIp, checkMac, checkName, checkPrefix, hashMod, names, randomPrefix, tunnelIp, tunnelMac, vmMac } from './names.js';
import { dhcpLease, writeDhcpScript, type DhcpLease } from './dhcp.js';
import { netnsExec } from './netns.js';
import { ovsHostHandle, startOvsHost, type OvsHost, type StopOvsOptions } from './ovs-host.js';
import { processStartTime } from './proc.js';
import type { ExecResult } from './run.js';
import {
  ENCAPS,
  STATE_FILE,
  listStates,
  readState,
  sandboxBaseDir,
  writeState,
  type Encap,
  type HostState,
  type PhysnetState,
  type SandboxState,
  type VmState,
} from './state.js';
import { runDirOf, sweep, teardown } from './teardown.js';
import { attachHost, blockUnderlayPair, configureTunnelEndpoint, createUnderlay, ensureTunnelPorts, seedNeighbors } from './underlay.js';
import { createVm, deleteVm } from './vm.js';
import { attachPhysnet, createPhysnet, physnetState } from './physnet.js';
import { statusOf, type SandboxStatus } from './status.js';
import { isoTime } from '../util/time.js';

export interface SandboxUpOptions {
  hosts: number;
  encap?: Encap;
  /** 2-8 chars [a-z][a-z0-9]*; default "wv" + 4 random chars. */
  prefix?: string;
  /** Default: the prefix. The run dir is <base>/<name> unless runDir is given. */
  name?: string;
  runDir?: string;
  /** Add flow-based tunnel ports to br-int (true = the sandbox's encap), for tests without an agent. */
  tunnels?: boolean | Encap[];
  /**
   * A physical network (provider networks): Linux bridge br-pn in the underlay namespace as the segment, br-ex
   * (OVS, netdev) on every host cabled to it, an outside host (203.0.113.1/24); agents then map physnet1:br-ex.
   */
  physnet?: boolean;
  /** No owner process: sweep() leaves it alone (the CLI's sandboxes live until `down`). */
  persistent?: boolean;
  logger?: Logger;
}

export interface VmOptions {
  portId: string;
  mac?: string;
  /** The VIF's external_ids exactly (instead of iface-id=portId, attached-mac=mac), e.g. what libvirt writes. */
  externalIds?: Record<string, string>;
  /** CIDR, e.g. "10.0.0.5/24". */
  ip?: string;
  gateway?: string;
  /** Leave eth0 unaddressed (a DHCP client will run in it). */
  dhcp?: boolean;
  /** Default 1400: room for the tunnel header on the 1500-byte underlay. */
  mtu?: number;
}

export type SandboxVm = Readonly<VmState>;

export interface SandboxHost {
  readonly name: string;
  readonly index: number;
  readonly netns: string;
  readonly ovs: OvsHost;
  readonly tunnelIp: string;
  readonly tunnelMac: string;
  readonly vms: SandboxVm[];
  /** Persisted free-form data (e.g. `agent: { pid, api }`); change it with Sandbox.setHostExtra. */
  readonly extras: Readonly<Record<string, unknown>>;
}

export type { SandboxStatus };
type HostRef = string | { name: string };
type VmRef = string | { name: string };

export class Sandbox {
  private readonly ovs = new Map<string, OvsHost>();
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly state: SandboxState,
    private readonly log: Logger,
  ) {}

  get name(): string {
    return this.state.name;
  }
  get prefix(): string {
    return this.state.prefix;
  }
  get runDir(): string {
    return this.state.runDir;
  }
  get encap(): Encap {
    return this.state.encap;
  }
  get hosts(): SandboxHost[] {
    return this.state.hosts.map((h) => this.hostView(h));
  }
  get vms(): SandboxVm[] {
    return [...this.state.vms];
  }
  /** The physical network, when the sandbox has one. */
  get physnet(): Readonly<PhysnetState> | undefined {
    return this.state.physnet;
  }

  /** Runs a command in the outside host's namespace (never rejects on exit status). */
  execOutside(cmd: string[], timeoutMs?: number): Promise<ExecResult> {
    if (!this.state.physnet) throw new Error(`sandbox ${this.name} has no physical network (up with physnet)`);
    return netnsExec(this.state.physnet.outsideNetns, cmd, timeoutMs);
  }

  static async up(opts: SandboxUpOptions): Promise<Sandbox> {
    if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 200)
      throw new Error(`hosts must be an integer 1..200, got ${opts.hosts}`);
    const encap = opts.encap ?? 'vxlan';
    if (!ENCAPS.includes(encap)) throw new Error(`encap must be one of ${ENCAPS.join(', ')}, got ${String(encap)}`);
    const prefix = opts.prefix ?? randomPrefix();
    checkPrefix(prefix);
    const name = opts.name ?? prefix;
    checkName('sandbox', name);
    const runDir = opts.runDir ?? join(sandboxBaseDir(), name);
    if (existsSync(join(runDir, STATE_FILE))) throw new Error(`sandbox "${name}" already exists (${runDir}); run down first`);
    await mkdir(runDir, { recursive: true });
    const tunnels = opts.tunnels === true ? [encap] : opts.tunnels === false || opts.tunnels === undefined ? [] : opts.tunnels;
    const state: SandboxState = {
      version: 1,
      name,
      prefix,
      runDir,
      encap,
      tunnels,
      subnetIndex: await pickSubnet(prefix),
      owner: opts.persistent ? null : { pid: process.pid, startTime: await processStartTime(process.pid) },
      createdAt: isoTime(),
      nextVmIndex: 1,
      hosts: [],
      vms: [],
      ...(opts.physnet ? { physnet: physnetState(prefix) } : {}),
    };
    await writeState(state);
    const sb = new Sandbox(state, (opts.logger ?? silentLogger).child({ sandbox: name }));
    try {
      await createUnderlay(prefix);
      if (state.physnet) await createPhysnet(prefix, state.physnet);
      // Hosts start in parallel; all settle before any error tears down, so nothing is built after teardown.
      const settled = await Promise.allSettled(Array.from({ length: opts.hosts }, (_, i) => sb.createHost(i + 1)));
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const made = settled.map((r) => (r as PromiseFulfilledResult<HostState>).value);
      for (const h of made)
        await seedNeighbors(
          sb.ovsOf(h),
          state.hosts.filter((p) => p !== h),
        );
    } catch (err) {
      await teardown(state, sb.log).catch(() => undefined);
      throw err;
    }
    sb.log.info({ hosts: opts.hosts, encap, runDir }, 'sandbox up');
    return sb;
  }

  /** Attaches to an existing sandbox by name (under the base dir) or run dir path. */
  static async load(runDirOrName: string, opts: { logger?: Logger } = {}): Promise<Sandbox> {
    const runDir = runDirOf(runDirOrName);
    let state: SandboxState;
    try {
      state = await readState(runDir);
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(
        missing
          ? `no sandbox "${runDirOrName}" (no ${join(runDir, STATE_FILE)}): run up first`
          : `sandbox at ${runDir}: ${(err as Error).message}`,
      );
    }
    return new Sandbox(state, (opts.logger ?? silentLogger).child({ sandbox: state.name }));
  }

  /** Removes leftovers of sandboxes whose owner process is gone; returns their names. */
  static sweep(prefix?: string, opts: { baseDir?: string; logger?: Logger } = {}): Promise<string[]> {
    return sweep({ prefix, ...opts });
  }

  host(ref: HostRef): SandboxHost {
    return this.hostView(this.hostState(ref));
  }

  vm(ref: VmRef): SandboxVm {
    const n = typeof ref === 'string' ? ref : ref.name;
    const vm = this.state.vms.find((v) => v.name === n);
    if (!vm) throw new Error(`no VM "${n}" in sandbox ${this.name} (have: ${this.state.vms.map((v) => v.name).join(', ') || 'none'})`);
    return vm;
  }

  /** A new host joining later: cabled to the underlay, neighbours seeded both ways. */
  async addHost(): Promise<SandboxHost> {
    const index = Math.max(0, ...this.state.hosts.map((h) => h.index)) + 1;
    if (index > 254) throw new Error('no host address left in the /24');
    const h = await this.createHost(index);
    await seedNeighbors(
      this.ovsOf(h),
      this.state.hosts.filter((p) => p !== h),
    );
    for (const p of this.state.hosts) {
      if (p !== h && (await this.ovsOf(p).pids()).vswitchd !== undefined) await seedNeighbors(this.ovsOf(p), [h]);
    }
    return this.hostView(h);
  }

  async addVm(hostRef: HostRef, name: string, opts: VmOptions): Promise<SandboxVm> {
    const host = this.hostState(hostRef);
    checkName('VM', name);
    if (this.state.vms.some((v) => v.name === name)) throw new Error(`VM "${name}" already exists`);
    if (!opts.portId) throw new Error('portId is required');
    const mac = (opts.mac ?? vmMac(this.prefix, name)).toLowerCase();
    checkMac(mac);
    if (opts.ip !== undefined) checkCidr(opts.ip);
    if (opts.gateway !== undefined) {
      checkIp(opts.gateway);
      if (opts.ip === undefined) throw new Error('a gateway needs an ip');
    }
    if (opts.dhcp && opts.ip !== undefined) throw new Error('ip and dhcp are exclusive');
    const mtu = opts.mtu ?? 1400;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 9000) throw new Error(`bad mtu ${mtu}`);
    const k = this.state.nextVmIndex++;
    const vm: VmState = {
      name,
      host: host.name,
      netns: names.vmNetns(this.prefix, name),
      ifname: names.vmPort(this.prefix, k),
      portId: opts.portId,
      mac,
      ...(opts.externalIds ? { externalIds: { ...opts.externalIds } } : {}),
      ip: opts.ip,
      gateway: opts.gateway,
      dhcp: opts.dhcp ?? false,
      mtu,
    };
    this.state.vms.push(vm); // recorded first: a crash mid-way still leaves a trace for down/sweep
    await this.save();
    try {
      await createVm(vm, host, this.ovsOf(host));
    } catch (err) {
      await deleteVm(vm, this.ovsOf(host)).catch(() => undefined);
      this.state.vms = this.state.vms.filter((v) => v !== vm);
      await this.save();
      throw err;
    }
    this.log.debug({ vm: name, host: host.name, portId: vm.portId }, 'VM added');
    return vm;
  }

  async delVm(ref: VmRef): Promise<void> {
    const vm = this.state.vms.find((v) => v.name === this.vm(ref).name)!;
    await deleteVm(vm, this.ovsOf(this.hostState(vm.host)));
    this.state.vms = this.state.vms.filter((v) => v !== vm);
    await this.save();
  }

  /** Moves a VM to another host (delete + add with the same settings). */
  async moveVm(ref: VmRef, toHost: HostRef): Promise<SandboxVm> {
    const vm = { ...this.vm(ref) };
    await this.delVm(vm.name);
    return this.addVm(toHost, vm.name, vm);
  }

  /** Runs a command inside a VM's namespace (never rejects on exit status). */
  exec(ref: VmRef, cmd: string[], timeoutMs?: number): Promise<ExecResult> {
    return netnsExec(this.vm(ref).netns, cmd, timeoutMs);
  }

  /** Runs a DHCP client (busybox udhcpc) on the VM's eth0 and applies the lease it gets (address, route, MTU). */
  async dhcp(ref: VmRef, opts: { timeoutS?: number } = {}): Promise<DhcpLease> {
    const vm = this.vm(ref);
    return dhcpLease(vm.netns, await writeDhcpScript(this.runDir), opts.timeoutS);
  }

  /** Failure injection: kills the host's ovs-vswitchd and ovsdb-server, or only `daemons` (SIGKILL unless told otherwise). */
  async hostStop(ref: HostRef, opts: StopOvsOptions = {}): Promise<void> {
    await this.ovsOf(this.hostState(ref)).stop(opts);
  }

  /**
   * Starts whichever of the host's OVS daemons is not running, from its database; br-int comes back with its
   * ports; the tunnel endpoint is restored.
   */
  async hostStart(ref: HostRef): Promise<void> {
    const h = this.hostState(ref);
    const ovs = this.ovsOf(h);
    await ovs.start();
    await configureTunnelEndpoint(h, ovs);
    await seedNeighbors(
      ovs,
      this.state.hosts.filter((p) => p !== h),
    );
    await ensureTunnelPorts(ovs, h, this.state.tunnels);
  }

  /**
   * Underlay filter: hosts `a` and `b` can no longer reach each other directly (both still reach every other host);
   * `allow` lifts it. Lives in the underlay namespace, so it goes with the sandbox.
   */
  async blockUnderlay(a: HostRef, b: HostRef, allow = false): Promise<void> {
    await blockUnderlayPair(this.prefix, this.hostState(a), this.hostState(b), allow);
  }

  /** Sets (or with undefined, deletes) a persisted extra of a host, e.g. `agent: { pid, api }`. */
  async setHostExtra(ref: HostRef, key: string, value: unknown): Promise<void> {
    const h = this.hostState(ref);
    if (value === undefined) delete h.extras[key];
    else h.extras[key] = value;
    await this.save();
  }

  /** Records a process started "on" a host (e.g. its agent): down() and sweep() end it by pid. */
  async trackProcess(ref: HostRef, label: string, pid: number): Promise<void> {
    const h = this.hostState(ref);
    h.processes[label] = { pid, startTime: await processStartTime(pid) };
    await this.save();
  }

  async untrackProcess(ref: HostRef, label: string): Promise<void> {
    delete this.hostState(ref).processes[label];
    await this.save();
  }

  status(): Promise<SandboxStatus> {
    return statusOf(this.state, (h) => this.ovsOf(h));
  }

  /** Removes everything the sandbox made; succeeds when parts are already gone. */
  async down(): Promise<void> {
    await teardown(this.state, this.log);
  }

  private async createHost(index: number): Promise<HostState> {
    const name = `hv${index}`;
    const h: HostState = {
      name,
      index,
      netns: names.hostNetns(this.prefix, name),
      runDir: join(this.runDir, name),
      tunnelIp: tunnelIp(this.state.subnetIndex, index),
      tunnelMac: tunnelMac(this.state.subnetIndex, index),
      uplink: names.uplink(this.prefix, index),
      extras: {},
      processes: {},
    };
    this.state.hosts.push(h);
    this.state.hosts.sort((a, b) => a.index - b.index);
    await this.save();
    const ovs = await startOvsHost({ name: `${this.prefix}-${name}`, netns: h.netns, runDir: h.runDir, logger: this.log });
    this.ovs.set(name, ovs);
    await attachHost(this.prefix, h, ovs);
    if (this.state.physnet) await attachPhysnet(this.prefix, h, ovs, this.state.physnet);
    await ensureTunnelPorts(ovs, h, this.state.tunnels);
    return h;
  }

  private hostState(ref: HostRef): HostState {
    const n = typeof ref === 'string' ? ref : ref.name;
    const h = this.state.hosts.find((x) => x.name === n);
    if (!h) throw new Error(`no host "${n}" in sandbox ${this.name} (have: ${this.state.hosts.map((x) => x.name).join(', ')})`);
    return h;
  }

  private ovsOf(h: HostState): OvsHost {
    let o = this.ovs.get(h.name);
    if (!o) {
      o = ovsHostHandle({ name: `${this.prefix}-${h.name}`, netns: h.netns, runDir: h.runDir, logger: this.log });
      this.ovs.set(h.name, o);
    }
    return o;
  }

  private hostView(h: HostState): SandboxHost {
    return {
      name: h.name,
      index: h.index,
      netns: h.netns,
      ovs: this.ovsOf(h),
      tunnelIp: h.tunnelIp,
      tunnelMac: h.tunnelMac,
      vms: this.state.vms.filter((v) => v.host === h.name),
      extras: h.extras,
    };
  }

  /**
   * Writes state.json. Saves are chained: hosts are created in parallel and each saves, and two overlapping
   * writes could otherwise land out of order, leaving the older state (a host missing) on disk.
   */
  private save(): Promise<void> {
    const write = this.saving.then(() => writeState(this.state));
    this.saving = write.catch(() => undefined);
    return write;
  }
}

/**
 * A /24 for the underlay, unique among the sandboxes under the base dir. (Underlays live in separate
 * namespaces, so a clash could not mix traffic; distinct subnets keep addresses unambiguous in logs and stores.)
 */
async function pickSubnet(prefix: string): Promise<number> {
  const used = new Set((await listStates()).map((s) => s.subnetIndex));
  const start = hashMod(prefix, 250);
  for (let i = 0; i < 250; i++) {
    const idx = ((start + i) % 250) + 1;
    if (!used.has(idx)) return idx;
  }
  return start + 1;
}
