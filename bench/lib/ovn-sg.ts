/**
 * The sg bench's OVN side: real OVN (NB and SB ovsdb-server, ovn-northd, one ovn-controller per sandbox host),
 * started as /work/shared/anchors/ovn/run.sh starts it, on the same Sandbox hosts wyvern runs on.
 *
 * The policy is written the way networking-ovn (Neutron's OVN driver) writes security groups:
 * - every port in some group is in port group `pg_drop`, with two priority-1001 drop ACLs (to-lport on
 *   outport, from-lport on inport, both `ip`): a grouped port is closed except for what its groups allow;
 * - group G is port group `pg_G`; northd derives its address set `$pg_G_ip4` from the members' addresses;
 * - each rule is one priority-1002 `allow-related` ACL on pg_G (ingress = to-lport on outport, remote =
 *   ip4.src; egress = from-lport on inport, remote = ip4.dst); a new group holds `from-lport inport == @pg_G
 *   && ip4 allow-related` (the contract's default egress rule).
 * Ports carry port security "MAC IP" (anti-spoofing, as wyvern's ports do).
 *
 * Central daemons run in the root namespace on unix sockets only; every pid is recorded with the sandbox
 * (trackProcess), so Sandbox.down() ends them, by pid, whatever happens to this process.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sandbox, SandboxHost } from '../../src/sandbox/index.js';
import { execCmd, run } from '../../src/sandbox/run.js';
import { dumpFlows, type PortSpec, type RuleSpec, type SgSide } from './sg-side.js';

const LS = 'ls0';
const DROP_PG = 'pg_drop';
const pg = (group: string) => `pg_${group.replace(/[^A-Za-z0-9_]/g, '_')}`;

/** Installs OVN and iperf3 from Debian if a tool is missing (idempotent; not part of scripts/setup). */
export async function ensureOvnPackages(log: (s: string) => void): Promise<void> {
  const need = ['ovn-nbctl', 'ovn-northd', 'ovn-controller', 'iperf3'];
  const missing: string[] = [];
  for (const c of need) if ((await execCmd(['sh', '-c', `command -v ${c}`])).code !== 0) missing.push(c);
  if (missing.length === 0) return;
  log(`installing ovn-central ovn-host iperf3 (missing: ${missing.join(', ')})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = ['apt-get', 'install', '-y', '-o', 'DPkg::Lock::Timeout=300', 'ovn-central', 'ovn-host', 'iperf3'];
  if ((await execCmd(install, { env, timeoutMs: 600_000 })).code !== 0) {
    await run(['apt-get', 'update', '-o', 'DPkg::Lock::Timeout=300'], { env, timeoutMs: 600_000 });
    await run(install, { env, timeoutMs: 600_000 });
  }
}

export class OvnSg implements SgSide {
  readonly label = 'ovn' as const;
  readonly installedMark = 'ovn-installed';
  readonly hasGroups = true;
  readonly enforces = true;
  private sb!: Sandbox;
  private central = '';
  private pids: number[] = [];

  async setup(sb: Sandbox): Promise<void> {
    this.sb = sb;
    this.central = join(sb.runDir, 'ovn-central');
    const c = this.central;
    await mkdir(c, { recursive: true });
    const owner = sb.hosts[0]!.name; // the central's pids are recorded with the first host: down() ends them
    for (const db of ['nb', 'sb']) {
      await run(['ovsdb-tool', 'create', `${c}/${db}.db`, `/usr/share/ovn/ovn-${db}.ovsschema`]);
      await run([
        'ovsdb-server',
        `${c}/${db}.db`,
        `--remote=punix:${c}/${db}.sock`,
        `--pidfile=${c}/${db}.pid`,
        `--unixctl=${c}/${db}.ctl`,
        `--log-file=${c}/${db}.log`,
        '--detach',
        '--no-chdir',
      ]);
      await this.track(owner, `ovn-${db}`, `${c}/${db}.pid`);
    }
    await run(
      [
        'ovn-northd',
        `--ovnnb-db=unix:${c}/nb.sock`,
        `--ovnsb-db=unix:${c}/sb.sock`,
        `--pidfile=${c}/northd.pid`,
        `--unixctl=${c}/northd.ctl`,
        `--log-file=${c}/northd.log`,
        '--detach',
        '--no-chdir',
      ],
      { env: { ...process.env, OVN_RUNDIR: c } },
    );
    await this.track(owner, 'ovn-northd', `${c}/northd.pid`);
    for (const h of sb.hosts) await this.startController(h);
    await this.nb(['--wait=hv', 'sync']);
  }

  private async startController(h: SandboxHost): Promise<void> {
    const d = h.ovs.runDir;
    // ovn-controller speaks OpenFlow 1.5 to br-int; the sandbox's br-int allows only 1.3 (wyvern's version).
    await h.ovs.vsctl([
      'set',
      'Bridge',
      'br-int',
      'protocols=OpenFlow13,OpenFlow15',
      '--',
      'set',
      'Open_vSwitch',
      '.',
      `external_ids:system-id=${h.name}`,
      `external_ids:hostname=${h.netns}`,
      `external_ids:ovn-remote=unix:${this.central}/sb.sock`,
      `external_ids:ovn-encap-type=${this.sb.encap}`,
      `external_ids:ovn-encap-ip=${h.tunnelIp}`,
      'external_ids:ovn-bridge=br-int',
      'external_ids:ovn-bridge-datapath-type=netdev',
    ]);
    await run(
      [
        'ip',
        'netns',
        'exec',
        h.netns,
        'ovn-controller',
        `unix:${h.ovs.dbSock}`,
        `--pidfile=${d}/ovn-controller.pid`,
        `--log-file=${d}/ovn-controller.log`,
        '--detach',
        '--no-chdir',
      ],
      // It finds br-int.mgmt under OVS_RUNDIR; its own control socket goes to OVN_RUNDIR.
      { env: { ...process.env, OVS_RUNDIR: d, OVN_RUNDIR: d, OVN_LOGDIR: d } },
    );
    await this.track(h.name, 'ovn-controller', `${d}/ovn-controller.pid`);
  }

  /** Records a daemon's pid with the sandbox (down() ends it) and for controlPids(). */
  private async track(host: string, label: string, pidfile: string): Promise<void> {
    const pid = await pidOf(pidfile);
    this.pids.push(pid);
    await this.sb.trackProcess(host, label, pid);
  }

  controlPids(): number[] {
    return [...this.pids];
  }

  nb(args: string[]): Promise<string> {
    return run(['ovn-nbctl', '--timeout=120', `--db=unix:${this.central}/nb.sock`, ...args], { timeoutMs: 130_000 });
  }
  sbctl(args: string[]): Promise<string> {
    return run(['ovn-sbctl', '--timeout=120', `--db=unix:${this.central}/sb.sock`, ...args], { timeoutMs: 130_000 });
  }

  async createNetwork(): Promise<void> {
    await this.nb([
      'ls-add',
      LS,
      '--',
      'pg-add',
      DROP_PG,
      '--',
      'acl-add',
      DROP_PG,
      'to-lport',
      '1001',
      `outport == @${DROP_PG} && ip`,
      'drop',
      '--',
      'acl-add',
      DROP_PG,
      'from-lport',
      '1001',
      `inport == @${DROP_PG} && ip`,
      'drop',
    ]);
  }

  async createGroup(name: string): Promise<void> {
    const g = pg(name);
    await this.nb(['pg-add', g, '--', 'acl-add', g, 'from-lport', '1002', `inport == @${g} && ip4`, 'allow-related']);
  }

  async addRule(group: string, r: RuleSpec): Promise<string> {
    const g = pg(group);
    const ingress = r.direction === 'ingress';
    const parts = [ingress ? `outport == @${g}` : `inport == @${g}`, 'ip4'];
    const remoteField = ingress ? 'ip4.src' : 'ip4.dst';
    if (r.remoteGroup) parts.push(`${remoteField} == $${pg(r.remoteGroup)}_ip4`);
    else if (r.remoteCidr) parts.push(`${remoteField} == ${r.remoteCidr}`);
    if (r.protocol === 'icmp') parts.push('icmp4');
    else if (r.protocol !== 'any') {
      parts.push(r.protocol);
      if (r.portMin !== undefined) {
        const max = r.portMax ?? r.portMin;
        parts.push(
          max === r.portMin ? `${r.protocol}.dst == ${r.portMin}` : `${r.protocol}.dst >= ${r.portMin} && ${r.protocol}.dst <= ${max}`,
        );
      }
    }
    const dir = ingress ? 'to-lport' : 'from-lport';
    const match = parts.join(' && ');
    await this.nb(['acl-add', g, dir, '1002', match, 'allow-related']);
    return `${dir}\t${match}`;
  }

  async deleteRule(group: string, handle: string): Promise<void> {
    const [dir, match] = handle.split('\t');
    await this.nb(['acl-del', pg(group), dir!, '1002', match!]);
  }

  /** One NB transaction per 50 ports: LSP with addresses and port security, into the switch and its port groups. */
  async createPorts(ports: PortSpec[]): Promise<void> {
    for (let i = 0; i < ports.length; i += 50) {
      const args: string[] = [];
      ports.slice(i, i + 50).forEach((p, k) => {
        const id = `@p${k}`;
        const a = `"${p.mac} ${p.ip}"`;
        args.push('--', `--id=${id}`, 'create', 'Logical_Switch_Port', `name=${p.name}`, `addresses=${a}`, `port_security=${a}`);
        args.push('--', 'add', 'Logical_Switch', LS, 'ports', id);
        for (const g of p.groups.length ? [DROP_PG, ...p.groups.map(pg)] : []) args.push('--', 'add', 'Port_Group', g, 'ports', id);
      });
      await this.nb(args);
    }
  }

  async setPortGroups(port: string, groups: string[]): Promise<void> {
    const uuid = (await this.nb(['--bare', '--columns=_uuid', 'find', 'Logical_Switch_Port', `name=${port}`])).trim();
    const now = (await this.nb(['--bare', '--columns=name', 'find', 'Port_Group', `ports{>=}${uuid}`])).split('\n').filter(Boolean);
    const want = groups.length ? [DROP_PG, ...groups.map(pg)] : [];
    const args: string[] = [];
    for (const g of now.filter((x) => !want.includes(x))) args.push('--', 'remove', 'Port_Group', g, 'ports', uuid);
    for (const g of want.filter((x) => !now.includes(x))) args.push('--', 'add', 'Port_Group', g, 'ports', uuid);
    if (args.length) await this.nb(args);
  }

  /**
   * Flows on the host whose logical flow is in an ACL stage (ls_in_pre_acl, ls_in_acl_hint, ls_in_acl,
   * ls_in_acl_after_lb, and the ls_out_ ones): ovn-controller puts the first 32 bits of the logical flow's UUID
   * in each OpenFlow flow's cookie.
   */
  async aclFlows(host: SandboxHost): Promise<number> {
    const out = await this.sbctl(['--format=csv', '--data=bare', '--no-headings', '--columns=_uuid,external_ids', 'list', 'Logical_Flow']);
    const acl = new Set<number>();
    for (const line of out.split('\n')) {
      const stage = /stage-name=([a-z_]+)/.exec(line)?.[1];
      if (stage && /acl/.test(stage)) acl.add(parseInt(line.slice(0, 8), 16));
    }
    let n = 0;
    for (const f of await dumpFlows(host)) {
      const cookie = /cookie=0x([0-9a-f]+)/.exec(f)?.[1];
      if (cookie !== undefined && acl.has(parseInt(cookie, 16))) n++;
    }
    return n;
  }

  /** An address-set ACL flow is a conjunction clause or a cross-product flow that also matches the port. */
  isAclFlow(line: string): boolean {
    return /conjunction\(|tp_dst=/.test(line);
  }

  aclTablesNote(): string {
    return 'OVN: flows whose cookie is a logical flow of an *acl* stage (pre_acl, acl_hint, acl, acl_after_lb; in and out)';
  }

  async teardown(): Promise<void> {
    // Sandbox.down() ends the tracked daemons; nothing else lives outside the sandbox's run dir.
  }
}

async function pidOf(pidfile: string): Promise<number> {
  if (!existsSync(pidfile)) throw new Error(`no pidfile ${pidfile}`);
  return Number((await readFile(pidfile, 'utf8')).trim());
}
