/**
 * The sg bench's wyvern side: etcd (one member, loopback) and one `wyvern agent` per sandbox host (lazy sync,
 * as bench:agent runs them); the policy goes in through the REST contract of issue 13:
 *   POST /v1/security-groups {name}                      (a new group holds the default egress-any rule)
 *   POST /v1/security-groups/{g}/rules {direction, protocol, portMin, portMax, remoteCidr, remoteGroup}
 *   DELETE /v1/security-groups/{g}/rules/{ruleId}
 *   POST /v1/ports {…, securityGroups}   PATCH /v1/ports/{port} {securityGroups}
 */
import { ApiClient, ApiClientError } from '../../src/api/client.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { agentOf, startAgent } from '../../src/sandbox/agents.js';
import type { Sandbox, SandboxHost } from '../../src/sandbox/index.js';
import { startEtcd, type EtcdCluster } from '../../test/helpers/etcd.js';
import { dumpFlows, type PortSpec, type RuleSpec, type SgSide } from './sg-side.js';

const NET = 'ls0';
/**
 * Tables counted as "ACL tables": named after, or owned by an app named after, ACLs / security groups /
 * conntrack (not port_security: anti-spoofing is counted in the total only, as OVN's port security is).
 */
const ACL_TABLE = new RegExp(process.env.WYVERN_ACL_TABLES ?? '(^|_)(acls?|sg|secgroups?|security_groups?|conntrack|ct)(_|$)', 'i');

export class WyvernSg implements SgSide {
  readonly label = 'wyvern' as const;
  readonly installedMark = 'wyvern-installed';
  hasGroups = false;
  get enforces(): boolean {
    return this.aclTableIds().length > 0;
  }
  private etcd: EtcdCluster | undefined;
  private api!: ApiClient;
  private sb!: Sandbox;

  constructor(private readonly logLevel = 'warn') {}

  async setup(sb: Sandbox): Promise<void> {
    this.sb = sb;
    this.etcd = await startEtcd();
    await Promise.all(sb.hosts.map((h) => startAgent(sb, h.name, { store: this.etcd!.url, lazySync: true, logLevel: this.logLevel })));
    this.api = new ApiClient(agentOf(sb.hosts[0]!)!.api);
    try {
      await this.api.call('GET', '/v1/security-groups');
      this.hasGroups = true;
    } catch (err) {
      if (!(err instanceof ApiClientError) || err.status !== 404) throw err;
    }
  }

  async createNetwork(cidr: string, gateway: string): Promise<void> {
    await this.api.call('POST', '/v1/networks', { name: NET, mtu: 1400 });
    await this.api.call('POST', '/v1/subnets', { name: `${NET}-sub`, network: NET, cidr, gatewayIp: gateway, enableDhcp: false });
  }

  async createGroup(name: string): Promise<void> {
    await this.api.call('POST', '/v1/security-groups', { name, description: 'bench:sg' });
  }

  async addRule(group: string, rule: RuleSpec): Promise<string> {
    const r = await this.api.call<{ id: string }>('POST', `/v1/security-groups/${encodeURIComponent(group)}/rules`, rule);
    return r.id;
  }

  async deleteRule(group: string, handle: string): Promise<void> {
    await this.api.call('DELETE', `/v1/security-groups/${encodeURIComponent(group)}/rules/${encodeURIComponent(handle)}`);
  }

  /** One POST per port, in sequence: concurrent creates contend on the store's allocation keys and retry. */
  async createPorts(ports: PortSpec[]): Promise<void> {
    for (const p of ports) {
      const groups = this.hasGroups ? { securityGroups: p.groups } : {};
      await this.api.call('POST', '/v1/ports', { name: p.name, network: NET, mac: p.mac, fixedIps: [{ ip: p.ip }], ...groups });
    }
  }

  async setPortGroups(port: string, groups: string[]): Promise<void> {
    await this.api.call('PATCH', `/v1/ports/${encodeURIComponent(port)}`, { securityGroups: groups });
  }

  async aclFlows(host: SandboxHost): Promise<number> {
    const tables = new Set(this.aclTableIds());
    let n = 0;
    for (const f of await dumpFlows(host)) {
      const t = Number(/table=(\d+)/.exec(f)?.[1] ?? 0);
      if (tables.has(t)) n++;
    }
    return n;
  }

  isAclFlow(line: string): boolean {
    const t = Number(/table=(\d+)/.exec(line)?.[1] ?? 0);
    return this.aclTableIds().includes(t);
  }

  private aclTableIds(): number[] {
    return loadPipeline()
      .tables.filter((t) => ACL_TABLE.test(t.name) || ACL_TABLE.test(t.owner))
      .map((t) => t.id);
  }

  aclTablesNote(): string {
    const p = loadPipeline();
    const names = p.tables.filter((t) => ACL_TABLE.test(t.name) || ACL_TABLE.test(t.owner)).map((t) => `${t.name}(${t.id})`);
    const api = this.hasGroups ? '' : '; NO security-group API in this build: no groups, rule/join/with-groups parts not run';
    return `wyvern: flows in tables ${names.join(', ') || '(none declared yet: this build lacks the ACL app)'}${api}`;
  }

  controlPids(): number[] {
    const agents = this.sb.hosts.map((h) => agentOf(h)?.pid ?? 0);
    return [...agents, ...(this.etcd?.members.map((m) => m.pid) ?? [])].filter((p) => p > 0);
  }

  async teardown(): Promise<void> {
    await this.etcd?.stop();
  }
}
