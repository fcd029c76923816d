/** The JSON status of a sandbox: where everything is, for people and scripts. */
import { join } from 'node:path';
import type { OvsHost } from './ovs-host.js';
import { execCmd } from './run.js';
import type { Encap, HostState, PhysnetState, SandboxState } from './state.js';
import { names } from './names.js';

export interface VmStatus {
  name: string;
  netns: string;
  portId: string;
  mac: string;
  ip: string | null;
  gateway: string | null;
  dhcp: boolean;
  mtu: number;
  /** The VM's port on br-int. */
  ifname: string;
  /** null while the host's OVS is down or the port has no ofport. */
  ofport: number | null;
}

export interface HostStatus {
  name: string;
  netns: string;
  runDir: string;
  dbSock: string;
  mgmtSock: string;
  vswitchdCtl: string;
  tunnelIp: string;
  tunnelMac: string;
  running: { ovsdb: number | null; vswitchd: number | null };
  /** Filled when an agent runs on the host (from extras.agent). */
  agent?: { pid: number; api: string };
  extras: Record<string, unknown>;
  vms: VmStatus[];
}

export interface SandboxStatus {
  name: string;
  prefix: string;
  runDir: string;
  encap: Encap;
  tunnels: Encap[];
  underlay: { netns: string; subnet: string };
  /** The physical network (provider networks) and its outside host, when the sandbox has one. */
  physnet?: PhysnetState;
  owner: { pid: number } | null;
  hosts: HostStatus[];
}

/** ofport of every Interface of a host, by name ({} when ovsdb-server is down). */
async function ofports(ovs: OvsHost): Promise<Map<string, number>> {
  const r = await execCmd([
    'ovs-vsctl',
    `--db=unix:${ovs.dbSock}`,
    '--timeout=5',
    '--format=json',
    '--columns=name,ofport',
    'list',
    'Interface',
  ]);
  const out = new Map<string, number>();
  if (r.code !== 0) return out;
  const table = JSON.parse(r.stdout) as { data: [string, number | unknown][] };
  for (const [name, ofport] of table.data) if (typeof ofport === 'number' && ofport > 0) out.set(name, ofport);
  return out;
}

function agentOf(extras: Record<string, unknown>): HostStatus['agent'] {
  const a = extras.agent as { pid?: unknown; api?: unknown } | undefined;
  return a && typeof a.pid === 'number' && typeof a.api === 'string' ? { pid: a.pid, api: a.api } : undefined;
}

export async function statusOf(state: SandboxState, ovsOf: (h: HostState) => OvsHost): Promise<SandboxStatus> {
  const hosts = await Promise.all(
    state.hosts.map(async (h): Promise<HostStatus> => {
      const ovs = ovsOf(h);
      const [p, ports] = await Promise.all([ovs.pids(), ofports(ovs)]);
      const running = p.vswitchd !== undefined;
      const agent = agentOf(h.extras);
      return {
        name: h.name,
        netns: h.netns,
        runDir: h.runDir,
        dbSock: ovs.dbSock,
        mgmtSock: ovs.mgmtSock(),
        vswitchdCtl: join(h.runDir, 'vswitchd.ctl'),
        tunnelIp: h.tunnelIp,
        tunnelMac: h.tunnelMac,
        running: { ovsdb: p.ovsdb ?? null, vswitchd: p.vswitchd ?? null },
        ...(agent ? { agent } : {}),
        extras: h.extras,
        vms: state.vms
          .filter((v) => v.host === h.name)
          .map((v) => ({
            name: v.name,
            netns: v.netns,
            portId: v.portId,
            mac: v.mac,
            ip: v.ip ?? null,
            gateway: v.gateway ?? null,
            dhcp: v.dhcp,
            mtu: v.mtu,
            ifname: v.ifname,
            ofport: running ? (ports.get(v.ifname) ?? null) : null,
          })),
      };
    }),
  );
  return {
    name: state.name,
    prefix: state.prefix,
    runDir: state.runDir,
    encap: state.encap,
    tunnels: state.tunnels,
    underlay: { netns: names.underlayNetns(state.prefix), subnet: `172.31.${state.subnetIndex}.0/24` },
    ...(state.physnet ? { physnet: state.physnet } : {}),
    owner: state.owner ? { pid: state.owner.pid } : null,
    hosts,
  };
}
