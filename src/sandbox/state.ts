/** The persisted description of a sandbox (runDir/state.json): what exists, so that any process can find or remove it. */
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProcRef } from './proc.js';

import { ENCAPS, type Encap } from '../model/types.js';

export { ENCAPS, type Encap };

export interface HostState {
  name: string;
  /** 1-based; the last byte of the tunnel IP. */
  index: number;
  netns: string;
  runDir: string;
  tunnelIp: string;
  /** br-phy's MAC, fixed (other_config:hwaddr) so that peers' neighbour entries survive a restart. */
  tunnelMac: string;
  /** Host end of the underlay veth (a port of br-phy). */
  uplink: string;
  /** Free-form data other modules attach to a host (e.g. `agent: { pid, api }`), persisted with the sandbox. */
  extras: Record<string, unknown>;
  /** Processes started "on" this host by others (e.g. an agent); down() kills them by pid. */
  processes: Record<string, ProcRef>;
}

export interface VmState {
  name: string;
  host: string;
  netns: string;
  /** Host end of the VM's veth, the port on br-int (the VM end is eth0). */
  ifname: string;
  portId: string;
  mac: string;
  ip?: string;
  gateway?: string;
  dhcp: boolean;
  mtu: number;
}

/** The sandbox's physical network (provider networks): segment bridge, per-host OVS bridge, outside host. */
export interface PhysnetState {
  /** Physical network name the agents map (physnet1). */
  name: string;
  /** Each host's OVS bridge to it (br-ex). */
  bridge: string;
  /** The Linux bridge acting as the physical segment, and its namespace (the underlay's). */
  segment: string;
  segmentNetns: string;
  /** A host outside the cloud on the segment (untagged), and its address. */
  outsideNetns: string;
  outsideIp: string;
}

export interface SandboxState {
  version: 1;
  name: string;
  prefix: string;
  runDir: string;
  encap: Encap;
  /** Third byte of the underlay 172.31.<subnetIndex>.0/24. */
  subnetIndex: number;
  /** Tunnel ports the sandbox itself adds to br-int (tests without an agent). */
  tunnels: Encap[];
  /** The process whose exit makes the sandbox a leftover for sweep(); null = kept until an explicit down. */
  owner: ProcRef | null;
  createdAt: string;
  nextVmIndex: number;
  hosts: HostState[];
  vms: VmState[];
  /** Present when the sandbox was made with a physical network. */
  physnet?: PhysnetState;
}

export const STATE_FILE = 'state.json';

/** Base directory of all sandboxes' run dirs. */
export function sandboxBaseDir(): string {
  return process.env.WYVERN_SANDBOX_DIR ?? '/run/wyvern-sandbox';
}

export async function readState(runDir: string): Promise<SandboxState> {
  const raw = await readFile(join(runDir, STATE_FILE), 'utf8');
  const s = JSON.parse(raw) as SandboxState;
  if (s.version !== 1) throw new Error(`${runDir}/${STATE_FILE}: unsupported state version ${String(s.version)}`);
  return s;
}

/**
 * Writes atomically (temp file + rename) so a reader never sees half a file; 0600, since hosts' extras describe
 * how their agents run (store URLs are masked there, but other tools may attach more).
 */
export async function writeState(state: SandboxState): Promise<void> {
  const tmp = join(state.runDir, `.${STATE_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, join(state.runDir, STATE_FILE));
}

/** States of all sandboxes under the base dir (unreadable ones are skipped), with their run dirs. */
export async function listStates(baseDir = sandboxBaseDir()): Promise<SandboxState[]> {
  let names: string[];
  try {
    names = await readdir(baseDir);
  } catch {
    return [];
  }
  const out: SandboxState[] = [];
  for (const n of names) {
    try {
      out.push(await readState(join(baseDir, n)));
    } catch {
      /* not a sandbox, or half made */
    }
  }
  return out;
}
