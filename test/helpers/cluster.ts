/**
 * An end-to-end cluster for agent tests: a real etcd, a sandbox of simulated hypervisors on real OVS,
 * one wyvern agent per host, and helpers to create topology through the REST API and check pings.
 */
import { ApiClient } from '../../src/api/client.js';
import { Sandbox, type Encap } from '../../src/sandbox/index.js';
import { agentOf, startAgent, stopAgent, type StartAgentOptions } from '../../src/sandbox/agents.js';
import { enableEtcdAuth, startEtcd, type EtcdCluster } from './etcd.js';

export interface PortInfo {
  id: string;
  name: string;
  mac: string;
  ip: string;
  networkId: string;
}

export class Cluster {
  private constructor(
    readonly sb: Sandbox,
    readonly storeUrl: string,
    readonly etcd: EtcdCluster,
    readonly agentOptions: Omit<StartAgentOptions, 'store'>,
    readonly sites: Record<string, string> = {},
  ) {}

  /** etcdAuth: etcd with authentication on (user wyvern, read-write on /wyvern/ only). */
  /** physnet: the sandbox gets a physical network (agents map physnet1:br-ex unless told otherwise). */
  static async up(opts: {
    hosts: number;
    encap?: Encap;
    lazySync?: boolean;
    agents?: boolean;
    etcdAuth?: boolean;
    physnet?: boolean;
    /** Host pairs that cannot reach each other in the underlay (an iptables filter in the underlay namespace). */
    blockUnderlay?: [string, string][];
    /**
     * Sites (issue 16): host → site (agents get WYVERN_SITE); hosts not named are in the default site. With
     * `siteGatewayCandidates`, the underlay joins sites only between candidates: every cross-site pair where not
     * both are candidates is blocked.
     */
    sites?: Record<string, string>;
    siteGatewayCandidates?: Record<string, string[]>;
    /** etcd members on loopback (default 1). */
    etcdMembers?: 1 | 3;
  }): Promise<Cluster> {
    if (process.getuid?.() !== 0) throw new Error('agent e2e tests need root (network namespaces, OVS)');
    const etcd = await startEtcd({ members: opts.etcdMembers ?? 1 });
    let sb: Sandbox | undefined;
    try {
      const url = opts.etcdAuth ? await enableEtcdAuth(etcd) : etcd.url;
      sb = await Sandbox.up({ hosts: opts.hosts, encap: opts.encap ?? 'vxlan', physnet: opts.physnet ?? false });
      for (const [a, b] of underlayBlocks(
        sb.hosts.map((h) => h.name),
        opts,
      ))
        await sb.blockUnderlay(a, b);
      const c = new Cluster(sb, url, etcd, { lazySync: opts.lazySync ?? true, logLevel: 'debug' }, opts.sites ?? {});
      if (opts.agents !== false) await Promise.all(sb.hosts.map((h) => c.startAgent(h.name)));
      return c;
    } catch (err) {
      await sb?.down().catch(() => undefined);
      await etcd.stop();
      throw err;
    }
  }

  startAgent(host: string, extra: Partial<StartAgentOptions> = {}) {
    const site = this.sites[host];
    const env = { ...(site ? { WYVERN_SITE: site } : {}), ...this.agentOptions.env, ...extra.env };
    return startAgent(this.sb, host, { store: this.storeUrl, ...this.agentOptions, ...extra, env });
  }

  stopAgent(host: string, signal: NodeJS.Signals = 'SIGTERM') {
    return stopAgent(this.sb, host, signal);
  }

  /** API client of the first host that has an agent (every agent serves the same northbound API). */
  api(host?: string): ApiClient {
    const h = host ? this.sb.host(host) : this.sb.hosts.find((x) => agentOf(x));
    const info = h && agentOf(h);
    if (!info) throw new Error('no agent running');
    return new ApiClient(info.api);
  }

  async agentStatus(host: string): Promise<Record<string, any>> {
    return (await this.api(host).call('GET', '/v1/agent/status')) as Record<string, any>;
  }

  async network(name: string, cidr: string, opts: { dhcp?: boolean; mtu?: number } = {}): Promise<{ id: string; subnetId: string }> {
    const api = this.api();
    const net = (await api.call('POST', '/v1/networks', { name, ...(opts.mtu ? { mtu: opts.mtu } : {}) })) as { id: string };
    const sub = (await api.call('POST', '/v1/subnets', {
      name: `${name}-sub`,
      network: name,
      cidr,
      enableDhcp: opts.dhcp ?? false,
    })) as { id: string };
    return { id: net.id, subnetId: sub.id };
  }

  async port(name: string, network: string, ip?: string, extra: Record<string, unknown> = {}): Promise<PortInfo> {
    const p = (await this.api().call('POST', '/v1/ports', {
      name,
      network,
      ...(ip ? { fixedIps: [{ ip }] } : {}),
      ...extra,
    })) as { id: string; name: string; mac: string; networkId: string; fixedIps: { ip: string }[] };
    return { id: p.id, name: p.name, mac: p.mac, ip: p.fixedIps[0]!.ip, networkId: p.networkId };
  }

  /** Plugs a VM for a port (static address) and waits for its wyvern-installed mark. */
  async vm(
    host: string,
    vm: string,
    port: PortInfo,
    prefixLen = 24,
    opts: { dhcp?: boolean; gateway?: string; mtu?: number } = {},
  ): Promise<void> {
    await this.sb.addVm(host, vm, {
      portId: port.name,
      mac: port.mac,
      ...(opts.mtu ? { mtu: opts.mtu } : {}),
      ...(opts.dhcp ? { dhcp: true } : { ip: `${port.ip}/${prefixLen}` }),
      ...(opts.gateway ? { gateway: opts.gateway } : {}),
    });
    await this.waitInstalled(vm);
  }

  async waitInstalled(vm: string, timeoutMs = 10_000): Promise<void> {
    const v = this.sb.vm(vm);
    const host = this.sb.host(v.host);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const out = await host.ovs.vsctl(['--if-exists', 'get', 'Interface', v.ifname, 'external_ids:wyvern-installed']).catch(() => '');
      if (out.trim() === '"true"' || out.trim() === 'true') return;
      if (Date.now() > deadline) throw new Error(`${vm}: wyvern-installed not set within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** One ping; true if answered. */
  async ping(vm: string, ip: string, waitS = 1): Promise<boolean> {
    const r = await this.sb.exec(vm, ['ping', '-c1', '-n', `-W${waitS}`, ip]);
    return r.code === 0;
  }

  /** Pings until answered or the deadline passes; returns ms until the first answer (or -1). */
  async pingUntil(vm: string, ip: string, timeoutMs = 5_000): Promise<number> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      if (await this.ping(vm, ip, 0.2)) return Date.now() - t0;
    }
    return -1;
  }

  async down(): Promise<void> {
    await this.sb.down().catch(() => undefined);
    await this.etcd.stop();
  }
}

/** The underlay pairs to block: those asked for, and between sites every pair not both gateway candidates. */
export function underlayBlocks(
  hosts: string[],
  opts: { blockUnderlay?: [string, string][]; sites?: Record<string, string>; siteGatewayCandidates?: Record<string, string[]> },
): [string, string][] {
  const out: [string, string][] = [...(opts.blockUnderlay ?? [])];
  if (!opts.sites || !opts.siteGatewayCandidates) return out;
  const site = (h: string) => opts.sites![h] ?? 'default';
  const candidate = (h: string) => (opts.siteGatewayCandidates![site(h)] ?? []).includes(h);
  for (const [i, a] of hosts.entries())
    for (const b of hosts.slice(i + 1)) if (site(a) !== site(b) && !(candidate(a) && candidate(b))) out.push([a, b]);
  return out;
}
