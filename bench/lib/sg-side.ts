/**
 * The security-group policy the sg bench builds, stated once and applied by two drivers: wyvern (REST API) and
 * OVN (ovn-nbctl port groups, address sets and ACLs). Both run on the same kind of sandbox (wyvern's Sandbox:
 * namespaced hosts with their own OVS, userspace datapath, geneve), bind their ports the same way (OVS internal
 * ports for the scale ports, veth VMs for traffic) and are timed by the same flow monitors.
 */
import type { Sandbox, SandboxHost } from '../../src/sandbox/index.js';
import { run } from '../../src/sandbox/run.js';

/** One allow rule, as the REST contract takes it (remoteGroup by name). */
export interface RuleSpec {
  direction: 'ingress' | 'egress';
  protocol: 'tcp' | 'udp' | 'icmp' | 'any';
  portMin?: number;
  portMax?: number;
  remoteCidr?: string;
  remoteGroup?: string;
}

export interface PortSpec {
  name: string;
  mac: string;
  ip: string;
  groups: string[];
}

/** What the bench asks of a side. Every call returns once the control plane accepted it (not the data plane). */
export interface SgSide {
  readonly label: 'wyvern' | 'ovn';
  /** The Open_vSwitch Interface external_ids key that says "flows for this port are installed". */
  readonly installedMark: string;
  /** False until the side has security groups (wyvern before issue 13 lands): the bench then runs its no-group parts only. */
  readonly hasGroups: boolean;
  /** False while the side has no ACL tables (wyvern with the API but before the ACL app): nothing to time. */
  readonly enforces: boolean;
  setup(sb: Sandbox): Promise<void>;
  createNetwork(cidr: string, gateway: string): Promise<void>;
  /** A group as the contract makes it: one default rule (egress, any), no ingress. */
  createGroup(name: string): Promise<void>;
  /** Returns a handle for deleteRule. */
  addRule(group: string, rule: RuleSpec): Promise<string>;
  deleteRule(group: string, handle: string): Promise<void>;
  /** Logical ports (batched where the side can). */
  createPorts(ports: PortSpec[]): Promise<void>;
  setPortGroups(port: string, groups: string[]): Promise<void>;
  /** Flows in the side's ACL tables on one host (by table for wyvern, by logical-flow stage for OVN). */
  aclFlows(host: SandboxHost): Promise<number>;
  /** What the ACL count covers, for the report. */
  aclTablesNote(): string;
  /**
   * Whether a flow line (dump-flows or monitor event) is one of the side's ACL flows, to tell a new port's
   * address-set flows from its own port-security flows (both match nw_src=its IP).
   */
  isAclFlow(line: string): boolean;
  /**
   * The side's control-plane processes, to charge CPU time to a change: wyvern's agents and etcd; OVN's
   * ovn-controllers, ovn-northd and the NB and SB ovsdb-servers.
   */
  controlPids(): number[];
  teardown(): Promise<void>;
}

/** CPU time (user + system, ms) the processes have used so far, from /proc (10 ms resolution). */
export async function cpuMs(pids: number[]): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // Fields after the ")" that ends the command name: utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11] ?? 0) + Number(f[12] ?? 0);
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** IPv4 address number n inside 10.0.0.0/16 (n = 256·third octet + fourth). */
export const addr = (n: number) => `10.0.${n >> 8}.${n & 255}`;
export const macOf = (n: number) => `0a:00:00:00:${hex(n >> 8)}:${hex(n & 255)}`;
const hex = (n: number) => n.toString(16).padStart(2, '0');

/**
 * Binds logical ports on one host as OVS internal ports (one tap each, no VM namespace): the cheapest binding
 * that makes either controller claim the port and install its flows. 100 ports per ovs-vsctl transaction.
 */
export async function bindInternal(host: SandboxHost, ports: { name: string; ifname: string; mac: string }[]): Promise<void> {
  for (let i = 0; i < ports.length; i += 100) {
    const args = ports
      .slice(i, i + 100)
      .flatMap((p) => [
        '--',
        'add-port',
        'br-int',
        p.ifname,
        '--',
        'set',
        'Interface',
        p.ifname,
        'type=internal',
        `external_ids:iface-id=${p.name}`,
        `external_ids:attached-mac="${p.mac}"`,
      ]);
    await run(['ovs-vsctl', `--db=unix:${host.ovs.dbSock}`, '--timeout=300', ...args], { timeoutMs: 330_000 });
  }
}

/** br-int's flows as `ovs-ofctl dump-flows` lines (OpenFlow 1.3 view; works against either controller's bridge). */
export async function dumpFlows(host: SandboxHost): Promise<string[]> {
  const out = await run(['ovs-ofctl', '-O', 'OpenFlow13', 'dump-flows', host.ovs.mgmtSock()], { timeoutMs: 60_000 });
  return out.split('\n').filter((l) => l.includes('actions='));
}
