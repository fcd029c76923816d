/**
 * bench:nat's wyvern side: etcd (one member) and one agent per host (lazy sync, physnet1 mapped to the sandbox's
 * mapped bridge, as Sandbox starts agents on a sandbox with a physical network); the topology through the REST
 * API of issue 14: a provider network, a router gateway with candidate chassis, a floating IP.
 */
import { ApiClient } from '../../src/api/client.js';
import { agentOf, startAgent } from '../../src/sandbox/agents.js';
import type { Sandbox, SandboxHost } from '../../src/sandbox/index.js';
import { startEtcd, type EtcdCluster } from '../../test/helpers/etcd.js';
import { EXT, INT, type NatSide, type VmSpec } from './nat-side.js';

export class WyvernNat implements NatSide {
  readonly label = 'wyvern' as const;
  private etcd: EtcdCluster | undefined;
  private api!: ApiClient;
  private sb!: Sandbox;

  /** `leaseTtlS`: the agents' chassis lease TTL, which bounds a gateway failover (the election rides on it). */
  constructor(
    private readonly logLevel = 'warn',
    private readonly leaseTtlS = 10,
  ) {}

  async setup(sb: Sandbox): Promise<void> {
    this.sb = sb;
    this.etcd = await startEtcd();
    // A flag, not WYVERN_LEASE_TTL: the sandbox starts agents with --lease-ttl-seconds 5, which the environment does not
    // override (before this, failovers said "TTL 3" and ran at 5).
    const args = ['--lease-ttl-seconds', String(this.leaseTtlS)];
    await Promise.all(
      sb.hosts.map((h) => startAgent(sb, h.name, { store: this.etcd!.url, lazySync: true, logLevel: this.logLevel, args })),
    );
    this.api = new ApiClient(agentOf(sb.hosts[0]!)!.api);
  }

  async build(gwChassis: string[], vms: VmSpec[]): Promise<void> {
    const post = (path: string, body: unknown) => this.api.call('POST', path, body);
    await post('/v1/networks', { name: 'ext', provider: { physnet: 'physnet1' } });
    await post('/v1/subnets', { name: 'ext-s', network: 'ext', cidr: EXT.cidr, gatewayIp: EXT.gateway, enableDhcp: false });
    await post('/v1/networks', { name: 'int', mtu: 1400 });
    await post('/v1/subnets', { name: 'int-s', network: 'int', cidr: INT.cidr, gatewayIp: INT.gateway, enableDhcp: false });
    await post('/v1/routers', { name: 'r1' });
    await post('/v1/routers/r1/interfaces', { subnet: 'int-s' });
    await this.api.call('PUT', '/v1/routers/r1/gateway', { network: 'ext', ip: EXT.routerIp, chassis: gwChassis });
    for (const vm of vms) await post('/v1/ports', { name: vm.name, network: 'int', mac: vm.mac, fixedIps: [{ ip: vm.ip }] });
    await post('/v1/floating-ips', { network: 'ext', ip: EXT.fip, port: vms[0]!.name });
  }

  /** Asked of each host's agent in turn: the one the bench talks to may be the gateway it just killed. */
  async activeGateway(): Promise<string | undefined> {
    let last: unknown;
    for (const h of this.sb.hosts) {
      const api = agentOf(h)?.api;
      if (!api) continue;
      try {
        const s = await new ApiClient(api).call<{ active?: string | null }>('GET', '/v1/routers/r1/gateway');
        return s.active ?? undefined;
      } catch (err) {
        last = err;
      }
    }
    throw last ?? new Error('no agent API answers');
  }

  controlPid(host: SandboxHost): number | undefined {
    return agentOf(host)?.pid;
  }

  controlPids(): number[] {
    const agents = this.sb.hosts.map((h) => agentOf(h)?.pid ?? 0);
    return [...agents, ...(this.etcd?.members.map((m) => m.pid) ?? [])].filter((p) => p > 0);
  }

  async teardown(): Promise<void> {
    await this.etcd?.stop();
  }
}
