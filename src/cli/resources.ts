/** `wyvern network|subnet|port|chassis …` over the API. */
import type { ApiClient } from '../api/client.js';
import { DEFAULT_SITE, type ChassisStatus, type Network, type Subnet } from '../model/types.js';
import type { PortView } from '../model/repo.js';
import type { NetworkTopologyStatus } from '../model/star-sites.js';
import {
  client,
  details,
  enc,
  out,
  parse,
  positionals,
  printJson,
  run,
  table,
  UsageError,
  withRevisionLine,
  type Command,
  type Parsed,
} from './common.js';
import { addSgQos, SG_QOS_CLEAR_FLAGS, SG_QOS_FLAGS, SG_QOS_HELP } from './port-flags.js';

async function netNames(c: ApiClient): Promise<Map<string, string>> {
  return new Map((await c.call<Network[]>('GET', '/v1/networks')).map((n) => [n.id, n.name]));
}

function verb(argv: string[], verbs: string[], help: string): [string, string[]] {
  const v = argv[0];
  if (v === undefined || v.startsWith('-')) throw new UsageError(`missing command\n${help}`);
  if (!verbs.includes(v)) throw new UsageError(`unknown command "${v}"\n${help}`);
  return [v, argv.slice(1)];
}

/** list / show / delete, shared by every kind. */
async function common(
  kind: string,
  path: string,
  v: string,
  p: Parsed,
  listTable: (c: ApiClient, items: unknown[]) => Promise<string>,
): Promise<boolean> {
  const c = client(p);
  if (v === 'list') {
    positionals(p, [], `wyvern ${kind} list`);
    const net = p.values.network as string | undefined;
    const items = await c.call<unknown[]>('GET', `${path}${net !== undefined ? `?network=${enc(net)}` : ''}`);
    if (p.values.json) printJson(items);
    else out(await listTable(c, items));
    return true;
  }
  if (v === 'show') {
    const [name] = positionals(p, ['NAME'], `wyvern ${kind} show NAME`);
    const { body: o, revision } = await c.callTagged<Record<string, unknown>>('GET', `${path}/${enc(name!)}`);
    if (p.values.json) printJson(o);
    else out(details(withRevisionLine(o, revision)));
    return true;
  }
  if (v === 'delete') {
    const [name] = positionals(p, ['NAME'], `wyvern ${kind} delete NAME`);
    const o = await c.call<{ name?: string; id?: string }>('DELETE', `${path}/${enc(name!)}`);
    if (p.values.json) printJson(o);
    else out(`deleted ${kind} ${o.name ?? name}${o.id ? ` (${o.id})` : ''}`);
    return true;
  }
  return false;
}

function created(p: Parsed, kind: string, o: Record<string, unknown>): void {
  if (p.values.json) printJson(o);
  else out(`created ${kind} ${String(o.name)}\n${details(o)}`);
}

const NETWORK_HELP = `usage:
  wyvern network create NAME [--mtu N] [--provider PHYSNET [--vlan ID]] [--topology mesh|star] [--center HV[,HV]...]
      (--provider: a provider network on that physical network, flat (untagged) without --vlan; VLAN ids 1..4094)
      (--topology star: every chassis tunnels only to an elected center, which relays; --center: its preference
       order among the chassis hosting the network, otherwise any of them by name. Overlay networks only)
  wyvern network update NAME [--topology mesh|star] [--center HV[,HV]... | --no-center]
      (a live switch: agents follow it, no restart)
  wyvern network list
  wyvern network show NAME        (topology, center preference, the elected center, the site gateways)
  wyvern network delete NAME`;

/** `--center hv2,hv3`: a comma list without empty names (the API checks the names). */
export function centerList(v: unknown): string[] {
  const names = String(v).split(',');
  if (names.some((n) => n === '')) throw new UsageError(`--center needs HV[,HV]... (got ${JSON.stringify(v)})`);
  return names;
}

/** The network record, then its topology as the agents elected it. */
function networkText(n: Network, t: NetworkTopologyStatus, revision: number | undefined): string {
  const since = (g: { chassis: string; since: string } | null, none: string) => (g ? `${g.chassis} (since ${g.since})` : none);
  return details({
    ...n,
    topology: t.topology,
    ...(t.topology === 'star'
      ? {
          centers: t.centers.length > 0 ? t.centers : 'any hosting chassis',
          center: since(t.center, 'none elected (no live hosting chassis)'),
        }
      : {}),
    hosts: t.hosts.map((h) => `${h.chassis} (${h.alive ? `site ${h.site}` : 'down'})`),
    siteGateways: t.sites.map((s) => `${s.name}: ${since(s.gateway, s.problem ?? 'none')}`),
    ...(revision !== undefined ? { revision } : {}),
  });
}

export const networkCommand: Command = (argv) =>
  run(NETWORK_HELP, argv, async () => {
    const [v, rest] = verb(argv, ['create', 'update', 'list', 'show', 'delete'], NETWORK_HELP);
    const p = parse(
      rest,
      v === 'create'
        ? {
            mtu: { type: 'string' },
            provider: { type: 'string' },
            vlan: { type: 'string' },
            topology: { type: 'string' },
            center: { type: 'string' },
          }
        : v === 'update'
          ? { topology: { type: 'string' }, center: { type: 'string' }, 'no-center': { type: 'boolean' } }
          : {},
      v === 'update' || v === 'delete',
    );
    if (v === 'show') {
      const [name] = positionals(p, ['NAME'], 'wyvern network show NAME');
      const c = client(p);
      const { body: n, revision } = await c.callTagged<Network>('GET', `/v1/networks/${enc(name!)}`);
      const t = await c.call<NetworkTopologyStatus>('GET', `/v1/networks/${enc(n.id)}/topology`);
      return p.values.json ? printJson({ ...n, status: t }) : out(networkText(n, t, revision));
    }
    if (v === 'update') {
      const [name] = positionals(p, ['NAME'], 'wyvern network update NAME [--topology mesh|star] [--center HV[,HV]... | --no-center]');
      const body: Record<string, unknown> = {};
      if (p.values.topology !== undefined) body.topology = p.values.topology;
      if (p.values.center !== undefined && p.values['no-center']) throw new UsageError('--center and --no-center: give one');
      if (p.values.center !== undefined) body.centers = centerList(p.values.center);
      if (p.values['no-center']) body.centers = [];
      if (Object.keys(body).length === 0) throw new UsageError('nothing to update: give --topology and/or --center');
      const { body: n, revision } = await client(p).callTagged<Network>('PATCH', `/v1/networks/${enc(name!)}`, body);
      return p.values.json
        ? printJson(n)
        : out(`updated network ${n.name}\n${details(withRevisionLine({ ...n, topology: n.topology ?? 'mesh' }, revision))}`);
    }
    if (
      await common('network', '/v1/networks', v, p, async (_c, items) =>
        table(
          ['NAME', 'ID', 'TUNNEL-KEY', 'MTU', 'PROVIDER', 'VLAN', 'TOPOLOGY'],
          (items as Network[]).map((n) => [
            n.name,
            n.id,
            String(n.tunnelKey),
            String(n.mtu),
            n.provider?.physnet ?? '-',
            n.provider ? (n.provider.vlan === undefined ? 'flat' : String(n.provider.vlan)) : '-',
            n.topology ?? 'mesh',
          ]),
        ),
      )
    )
      return;
    const [name] = positionals(
      p,
      ['NAME'],
      'wyvern network create NAME [--mtu N] [--provider PHYSNET [--vlan ID]] [--topology mesh|star] [--center HV[,HV]...]',
    );
    const body: Record<string, unknown> = { name };
    if (p.values.mtu !== undefined) body.mtu = intFlag(p.values.mtu as string, '--mtu');
    if (p.values.vlan !== undefined && p.values.provider === undefined) throw new UsageError('--vlan needs --provider PHYSNET');
    if (p.values.provider !== undefined)
      body.provider = {
        physnet: p.values.provider,
        ...(p.values.vlan !== undefined ? { vlan: intFlag(p.values.vlan as string, '--vlan') } : {}),
      };
    if (p.values.topology !== undefined) body.topology = p.values.topology;
    if (p.values.center !== undefined) body.centers = centerList(p.values.center);
    created(p, 'network', await client(p).call('POST', '/v1/networks', body));
  });

function intFlag(v: string, flag: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} needs an integer (got ${JSON.stringify(v)})`);
  return Number(v);
}

function pairs(list: unknown, flag: string): [string, string][] {
  return ((list as string[] | undefined) ?? []).map((s) => {
    const i = s.indexOf('=');
    if (i <= 0 || i === s.length - 1) throw new UsageError(`${flag} needs KEY=VALUE (got ${JSON.stringify(s)})`);
    return [s.slice(0, i), s.slice(i + 1)];
  });
}

const SUBNET_HELP = `usage:
  wyvern subnet create NAME --network NET --cidr CIDR [--gateway IP] [--no-dhcp] [--dns IP[,IP]]
                       [--domain D] [--route CIDR=NEXTHOP]... [--lease SECONDS] [--dhcp-option CODE=HEX]...
  wyvern subnet list [--network NET]
  wyvern subnet show NAME
  wyvern subnet delete NAME`;

export const subnetCommand: Command = (argv) =>
  run(SUBNET_HELP, argv, async () => {
    const [v, rest] = verb(argv, ['create', 'list', 'show', 'delete'], SUBNET_HELP);
    const p = parse(
      rest,
      v === 'create'
        ? {
            network: { type: 'string' },
            cidr: { type: 'string' },
            gateway: { type: 'string' },
            'no-dhcp': { type: 'boolean' },
            dns: { type: 'string' },
            domain: { type: 'string' },
            route: { type: 'string', multiple: true },
            lease: { type: 'string' },
            'dhcp-option': { type: 'string', multiple: true },
          }
        : v === 'list'
          ? { network: { type: 'string' } }
          : {},
      v === 'delete',
    );
    if (
      await common('subnet', '/v1/subnets', v, p, async (c, items) => {
        const nets = await netNames(c);
        return table(
          ['NAME', 'NETWORK', 'CIDR', 'GATEWAY', 'DHCP', 'ID'],
          (items as Subnet[]).map((s) => [
            s.name,
            nets.get(s.networkId) ?? s.networkId,
            s.cidr,
            s.gatewayIp,
            s.enableDhcp ? 'on' : 'off',
            s.id,
          ]),
        );
      })
    )
      return;
    const [name] = positionals(p, ['NAME'], 'wyvern subnet create NAME --network NET --cidr CIDR …');
    if (p.values.network === undefined) throw new UsageError('--network is required');
    if (p.values.cidr === undefined) throw new UsageError('--cidr is required');
    const body: Record<string, unknown> = { name, network: p.values.network, cidr: p.values.cidr };
    if (p.values.gateway !== undefined) body.gatewayIp = p.values.gateway;
    if (p.values['no-dhcp']) body.enableDhcp = false;
    if (p.values.dns !== undefined) body.dnsServers = (p.values.dns as string).split(',').filter(Boolean);
    if (p.values.domain !== undefined) body.domain = p.values.domain;
    if (p.values.lease !== undefined) body.leaseTime = intFlag(p.values.lease as string, '--lease');
    const routes = pairs(p.values.route, '--route');
    if (routes.length) body.hostRoutes = routes.map(([destination, nexthop]) => ({ destination, nexthop }));
    const opts = pairs(p.values['dhcp-option'], '--dhcp-option');
    if (opts.length) body.dhcpOptions = opts.map(([code, value]) => ({ code: intFlag(code, '--dhcp-option'), value }));
    created(p, 'subnet', await client(p).call('POST', '/v1/subnets', body));
  });

const PORT_HELP = `usage:
  wyvern port create NAME --network NET [--id UUID] [--mac MAC] [--ip IP]... [--subnet SUBNET]... [--no-port-security]
                     [--allowed-address IP[/LEN][=MAC]]... [--sg GROUP]...
                     [--ingress-rate KBPS [--ingress-burst KBIT]] [--egress-rate KBPS [--egress-burst KBIT]]
      (no --ip/--subnet: one address from the network's first subnet; a VIF binds when its external_ids:iface-id
       is NAME or the port's id; --id UUID: the id the hypervisor gave the VIF (libvirt interfaceid, XAPI VIF
       uuid); a VIF whose external_ids:attached-mac is not the port's MAC is refused: give --mac the VM's MAC)
  wyvern port list [--network NET]
  wyvern port update NAME [--allowed-address IP[/PREFIX][=MAC]]... [--no-allowed-address]
                     [--port-security | --no-port-security] [--sg GROUP... | --no-sg]
                     [--ingress-rate KBPS [--ingress-burst KBIT]] [--egress-rate KBPS [--egress-burst KBIT]] [--no-qos]
      (--allowed-address replaces the list; --no-allowed-address clears it)
  wyvern port show NAME
  wyvern port delete NAME
${SG_QOS_HELP}`;

export const portCommand: Command = (argv) =>
  run(PORT_HELP, argv, async () => {
    const [v, rest] = verb(argv, ['create', 'update', 'list', 'show', 'delete'], PORT_HELP);
    if (v === 'update') return portUpdate(rest);
    const p = parse(
      rest,
      v === 'create'
        ? {
            network: { type: 'string' },
            id: { type: 'string' },
            mac: { type: 'string' },
            ip: { type: 'string', multiple: true },
            subnet: { type: 'string', multiple: true },
            'no-port-security': { type: 'boolean' },
            'allowed-address': { type: 'string', multiple: true },
            ...SG_QOS_FLAGS,
          }
        : v === 'list'
          ? { network: { type: 'string' } }
          : {},
      v === 'delete',
    );
    if (
      await common('port', '/v1/ports', v, p, async (c, items) => {
        const nets = await netNames(c);
        return table(
          ['NAME', 'NETWORK', 'MAC', 'IPS', 'CHASSIS', 'ID'],
          (items as PortView[]).map((x) => [
            x.name,
            nets.get(x.networkId) ?? x.networkId,
            x.mac,
            x.fixedIps.map((f) => f.ip).join(',') || '-',
            x.binding?.chassis ?? '-',
            x.id,
          ]),
        );
      })
    )
      return;
    const [name] = positionals(p, ['NAME'], 'wyvern port create NAME --network NET …');
    if (p.values.network === undefined) throw new UsageError('--network is required');
    const body: Record<string, unknown> = { name, network: p.values.network };
    if (p.values.id !== undefined) body.id = p.values.id;
    if (p.values.mac !== undefined) body.mac = p.values.mac;
    const ips = (p.values.ip as string[] | undefined) ?? [];
    const subs = (p.values.subnet as string[] | undefined) ?? [];
    if (ips.length || subs.length) body.fixedIps = [...ips.map((ip) => ({ ip })), ...subs.map((subnet) => ({ subnet }))];
    if (p.values['no-port-security']) body.portSecurity = false;
    const aap = (p.values['allowed-address'] as string[] | undefined) ?? [];
    if (aap.length) body.allowedAddressPairs = aap.map((s) => addressPair(s));
    addSgQos(p, body, 'wyvern port create NAME --network NET …');
    created(p, 'port', await client(p).call('POST', '/v1/ports', body));
  });

/** `IP[/PREFIX][=MAC]` (or `,MAC`, the form port create documented first) as an allowed address pair; the API validates the parts. */
function addressPair(s: string): { ip: string; mac?: string } {
  const i = s.search(/[=,]/);
  if (i === 0 || i === s.length - 1) throw new UsageError(`--allowed-address needs IP[/PREFIX][=MAC] (got ${JSON.stringify(s)})`);
  return i < 0 ? { ip: s } : { ip: s.slice(0, i), mac: s.slice(i + 1) };
}

const PORT_UPDATE_USAGE =
  'wyvern port update NAME [--allowed-address IP[/PREFIX][=MAC]]... [--no-allowed-address] [--port-security | --no-port-security] ' +
  '[--sg GROUP... | --no-sg] [--ingress-rate KBPS [--ingress-burst KBIT]] [--egress-rate KBPS [--egress-burst KBIT]] [--no-qos]';

async function portUpdate(rest: string[]): Promise<void> {
  const p = parse(
    rest,
    {
      'allowed-address': { type: 'string', multiple: true },
      'no-allowed-address': { type: 'boolean' },
      'port-security': { type: 'boolean' },
      'no-port-security': { type: 'boolean' },
      ...SG_QOS_FLAGS,
      ...SG_QOS_CLEAR_FLAGS,
    },
    true,
  );
  const [name] = positionals(p, ['NAME'], PORT_UPDATE_USAGE);
  const aap = (p.values['allowed-address'] as string[] | undefined) ?? [];
  const body: Record<string, unknown> = {};
  if (aap.length && p.values['no-allowed-address'])
    throw new UsageError(`--allowed-address and --no-allowed-address exclude each other\nusage: ${PORT_UPDATE_USAGE}`);
  if (p.values['port-security'] && p.values['no-port-security'])
    throw new UsageError(`--port-security and --no-port-security exclude each other\nusage: ${PORT_UPDATE_USAGE}`);
  if (aap.length) body.allowedAddressPairs = aap.map((s) => addressPair(s));
  if (p.values['no-allowed-address']) body.allowedAddressPairs = [];
  if (p.values['port-security']) body.portSecurity = true;
  if (p.values['no-port-security']) body.portSecurity = false;
  addSgQos(p, body, PORT_UPDATE_USAGE);
  if (Object.keys(body).length === 0) throw new UsageError(`nothing to update\nusage: ${PORT_UPDATE_USAGE}`);
  const { body: o, revision } = await client(p).callTagged<Record<string, unknown>>('PATCH', `/v1/ports/${enc(name!)}`, body);
  if (p.values.json) printJson(o);
  else out(details(withRevisionLine(o, revision)));
}

const CHASSIS_HELP = `usage:
  wyvern chassis list              (registered hypervisors; an entry exists while its agent is alive. Served by an
                                    agent, REACHABLE tells whether that agent shares an encapsulation with each)
  wyvern chassis show NAME
  wyvern chassis delete NAME [--force]
                                   take a chassis out of service: peers drop their tunnels to it at once, and its
                                   agent, if still running, does not register again until restarted. Refused while
                                   ports are bound there unless --force (their bindings are removed too).
                                   For a live host, prefer "wyvern agent decommission" on it.`;

/** A chassis as listed by an agent's API: with whether that agent can tunnel to it. */
type ChassisRow = ChassisStatus & { reachable?: boolean; reason?: string; self?: boolean };

export const chassisCommand: Command = (argv) =>
  run(CHASSIS_HELP, argv, async () => {
    const [v, rest] = verb(argv, ['list', 'show', 'delete'], CHASSIS_HELP);
    const p = parse(rest, v === 'delete' ? { force: { type: 'boolean' } } : {});
    if (v === 'delete') {
      const [name] = positionals(p, ['NAME'], 'wyvern chassis delete NAME [--force]');
      const o = await client(p).call<{ name: string; bindingsRemoved: string[] }>(
        'DELETE',
        `/v1/chassis/${enc(name!)}${p.values.force ? '?force=true' : ''}`,
      );
      if (p.values.json) printJson(o);
      else out(`deleted chassis ${o.name}${o.bindingsRemoved.length ? ` (bindings removed: ${o.bindingsRemoved.join(', ')})` : ''}`);
      return;
    }
    await common('chassis', '/v1/chassis', v, p, async (_c, items) =>
      table(
        ['NAME', 'TUNNEL-IP', 'ENCAPS', 'SITE', 'VERSION', 'ALIVE', 'REACHABLE'],
        (items as ChassisRow[]).map((x) => [
          x.name,
          x.tunnelIp,
          x.encaps.join(','),
          x.site ?? DEFAULT_SITE,
          x.version || '-',
          x.alive ? 'yes' : 'no',
          x.reachable === undefined ? '-' : x.self ? 'yes (self)' : x.reachable ? 'yes' : `no (${x.reason ?? 'no common encapsulation'})`,
        ]),
      ),
    );
  });
