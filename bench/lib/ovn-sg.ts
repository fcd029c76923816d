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
 * The daemons themselves: bench/lib/ovn-central.ts.
 */
import type { Sandbox, SandboxHost } from '../../src/sandbox/index.js';
import { OvnCentral } from './ovn-central.js';
import { dumpFlows, type PortSpec, type RuleSpec, type SgSide } from './sg-side.js';

const LS = 'ls0';
const DROP_PG = 'pg_drop';
const pg = (group: string) => `pg_${group.replace(/[^A-Za-z0-9_]/g, '_')}`;

export class OvnSg implements SgSide {
  readonly label = 'ovn' as const;
  readonly installedMark = 'ovn-installed';
  readonly hasGroups = true;
  readonly enforces = true;
  private readonly ovn = new OvnCentral();

  async setup(sb: Sandbox): Promise<void> {
    await this.ovn.start(sb);
  }

  controlPids(): number[] {
    return this.ovn.controlPids();
  }

  nb(args: string[]): Promise<string> {
    return this.ovn.nb(args);
  }
  sbctl(args: string[]): Promise<string> {
    return this.ovn.sbctl(args);
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

export { ensureOvnPackages } from './ovn-central.js';
