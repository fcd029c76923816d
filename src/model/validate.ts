/**
 * Validation of everything a user writes: API create/update bodies, CLI flags (sent as those
 * bodies) and each object of an imported topology (topology-check.ts feeds them through the same
 * functions). Each parse function returns a normalised input or throws ModelError INVALID naming
 * the field — every field at fault, not only the first (see Problems). Cross-object rules
 * (overlaps, uniqueness, references) live in the repository, which sees the store, and in
 * topology-check.ts for a document.
 */
import { checkAddressPair, checkUnicastIp, checkUnicastSubnet, parseRouteCidr } from './addr-rules.js';
import { SERVER_OWNED_OPTIONS } from './dhcp-owned.js';
import { invalid, Problems } from './errors.js';
import { broadcastOf, cidrContains, intToIp, ipToInt, isHostOf, isIpv4, type Cidr } from '../net/addr.js';
import { normalizeMac } from './macs.js';
import { decodeChassisList, PHYSNET_RE } from './codec.js';
import { NETWORK_TOPOLOGIES } from './types.js';
import type { DhcpOption, HostRoute, NetworkTopology, PortQos, ProviderSegment, RouterMode, Subnet } from './types.js';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * Names of networks, subnets, ports and routers: 1-63 characters of ASCII letters, digits and . _ : -
 * starting with a letter or digit. Names end up in store keys, OVS external_ids:iface-id, log lines
 * and shell commands, so no slashes (key paths), whitespace, control characters or non-ASCII.
 * ':' stays allowed because names created with it before must still import from an export.
 */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$/;
export const NAME_RULE = '1-63 characters of letters, digits, . _ : - starting with a letter or digit';

export const DEFAULT_MTU = 1450; // 1500 underlay minus VXLAN overhead
export const DEFAULT_LEASE = 86400;
/**
 * Lease bounds. Clients renew at half the lease (T1), each renewal a PACKET_IN to the agent: a 1 s
 * lease is two requests a second per VM, which the per-port DHCP rate limit then drops, and VMs lose
 * their address. A minute is the floor ISC dhcpd and OpenStack accept in practice. A year caps how
 * long a changed subnet (gateway, DNS) takes to reach VMs that do not restart.
 */
export const MIN_LEASE = 60;
export const MAX_LEASE = 31_536_000;

export type Obj = Record<string, unknown>;

export function asObject(v: unknown, field = 'body'): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(field, `${field} must be a JSON object`);
  return v as Obj;
}

/** Rejects fields a request does not define, so typos are not silently ignored. */
export function onlyFields(o: Obj, allowed: readonly string[], prefix = ''): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw invalid(prefix + k, `unknown field "${prefix + k}"`);
  }
}

/** onlyFields recording every unknown field. */
function knownFields(p: Problems, o: Obj, allowed: readonly string[], prefix = ''): void {
  for (const k of Object.keys(o)) p.run(() => onlyFields({ [k]: o[k] }, allowed, prefix));
}

export function checkName(v: unknown, field = 'name'): string {
  if (typeof v !== 'string' || v === '') throw invalid(field, `${field} is required (a string)`);
  if (!NAME_RE.test(v)) throw invalid(field, `invalid ${field} ${JSON.stringify(v)}: ${NAME_RULE}`);
  if (UUID_RE.test(v)) throw invalid(field, `invalid ${field} ${v}: a name must not look like a UUID (ids use that form)`);
  return v;
}

export function reqString(o: Obj, k: string, prefix = ''): string {
  const v = o[k];
  if (typeof v !== 'string' || v === '') throw invalid(prefix + k, `${prefix + k} is required (a string)`);
  return v;
}

export function optString(o: Obj, k: string, prefix = ''): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(prefix + k, `${prefix + k} must be a string`);
  return v;
}

export function optBool(o: Obj, k: string, dflt: boolean): boolean {
  const v = o[k];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw invalid(k, `${k} must be true or false`);
  return v;
}

export function optInt(o: Obj, k: string, dflt: number, min: number, max: number): number {
  const v = o[k];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(k, `${k} must be an integer in ${min}..${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

export function checkIp(v: unknown, field: string): string {
  if (typeof v !== 'string' || !isIpv4(v)) throw invalid(field, `invalid IPv4 address ${JSON.stringify(v)} in ${field}`);
  return v;
}

export function optArray(o: Obj, k: string): unknown[] {
  const v = o[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(k, `${k} must be an array`);
  return v;
}

export interface NetworkInput {
  name: string;
  mtu: number;
  provider?: ProviderSegment;
  /** Absent: mesh (issue 16). */
  topology?: NetworkTopology;
  centers?: string[];
}
export function parseNetworkInput(body: unknown): NetworkInput {
  const o = asObject(body);
  const p = new Problems();
  knownFields(p, o, ['name', 'mtu', 'provider', 'topology', 'centers']);
  const name = p.run(() => checkName(o.name));
  const mtu = p.run(() => optInt(o, 'mtu', DEFAULT_MTU, 576, 9000));
  const provider = o.provider === undefined || o.provider === null ? undefined : p.run(() => parseProviderInput(o.provider));
  const shape = p.run(() => parseTopologyInput(o, provider !== undefined, undefined));
  p.throwIfAny();
  return {
    name: name!,
    mtu: mtu!,
    ...(provider !== undefined ? { provider } : {}),
    ...(shape?.topology === 'star' ? { topology: 'star' as const } : {}),
    ...(shape?.centers ? { centers: shape.centers } : {}),
  };
}

/**
 * `topology` and `centers` of a network create or update (issue 16). `current`: the stored network on an update
 * (its topology stays when only centers are given). Star needs tunnels (no provider network); centers only with
 * star; a switch to mesh drops the center preference.
 */
export function parseTopologyInput(
  o: Obj,
  provider: boolean,
  current: { topology?: NetworkTopology; centers?: string[] } | undefined,
): { topology: NetworkTopology; centers?: string[] } {
  let topology: NetworkTopology = current?.topology ?? 'mesh';
  if (o.topology !== undefined && o.topology !== null) {
    if (typeof o.topology !== 'string' || !NETWORK_TOPOLOGIES.includes(o.topology as NetworkTopology))
      throw invalid('topology', `topology must be ${NETWORK_TOPOLOGIES.join(' or ')} (got ${JSON.stringify(o.topology)})`);
    topology = o.topology as NetworkTopology;
  }
  if (topology === 'star' && provider)
    throw invalid('topology', 'topology star needs an overlay network: a provider network has no tunnels to relay over');
  let centers = topology === 'star' ? current?.centers : undefined;
  if (o.centers !== undefined && o.centers !== null) {
    if (topology !== 'star') throw invalid('centers', 'centers (the star center preference) only with topology star');
    centers = Array.isArray(o.centers) && o.centers.length === 0 ? undefined : decodeChassisList(o.centers, 'centers');
  }
  return centers ? { topology, centers } : { topology };
}

/** A provider segment as requested: a physical network name and, for a VLAN network, its tag 1..4094. */
export function parseProviderInput(v: unknown, field = 'provider'): ProviderSegment {
  const o = asObject(v, field);
  const p = new Problems();
  knownFields(p, o, ['physnet', 'vlan'], `${field}.`);
  const physnet = p.run(() => {
    const s = reqString(o, 'physnet', `${field}.`);
    if (!PHYSNET_RE.test(s))
      throw invalid(`${field}.physnet`, `invalid physical network name ${JSON.stringify(s)}: 1-64 letters, digits, '_', '.' or '-'`);
    return s;
  });
  const vlan = p.run(() => {
    const x = o.vlan;
    if (x === undefined || x === null) return undefined;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > 4094)
      throw invalid(`${field}.vlan`, `VLAN id must be an integer in 1..4094 (got ${JSON.stringify(x)}); omit it for a flat network`);
    return x;
  });
  p.throwIfAny();
  return vlan === undefined ? { physnet: physnet! } : { physnet: physnet!, vlan };
}

/** A subnet as requested: the network by name or id, the gateway optional (defaulted by the repository). */
export type SubnetInput = Omit<Subnet, 'id' | 'networkId' | 'gatewayIp'> & { network: string; gatewayIp?: string };

const DOMAIN_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function parseHostRoute(r: unknown, f: string): HostRoute {
  const o = asObject(r, f);
  onlyFields(o, ['destination', 'nexthop'], `${f}.`);
  const dest = reqString(o, 'destination', `${f}.`);
  parseRouteCidr(dest, `${f}.destination`);
  return { destination: dest, nexthop: checkIp(o.nexthop, `${f}.nexthop`) };
}

/** Shape of stored host routes (the codec's check; a write also goes through parseSubnetInput). */
export function parseHostRoutes(list: unknown[], field = 'hostRoutes'): HostRoute[] {
  return list.map((r, i) => parseHostRoute(r, `${field}[${i}]`));
}

function parseDhcpOption(r: unknown, f: string): DhcpOption {
  const o = asObject(r, f);
  onlyFields(o, ['code', 'value'], `${f}.`);
  const code = o.code;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 1 || code > 254) {
    throw invalid(`${f}.code`, `${f}.code must be an integer DHCP option code 1..254`);
  }
  const value = reqString(o, 'value', `${f}.`).toLowerCase();
  if (!/^([0-9a-f]{2})+$/.test(value) || value.length > 510) {
    throw invalid(`${f}.value`, `${f}.value must be the option payload as hex bytes (1..255 bytes)`);
  }
  return { code, value };
}

/** Shape of stored DHCP options (the codec's check; a write also goes through parseSubnetInput). */
export function parseDhcpOptions(list: unknown[], field = 'dhcpOptions'): DhcpOption[] {
  return list.map((r, i) => parseDhcpOption(r, `${field}[${i}]`));
}

/** A user's extra DHCP option: well-formed, not one the DHCP server writes itself, not given twice. */
function checkUserDhcpOption(r: unknown, f: string, seen: Set<number>): DhcpOption {
  const code = typeof r === 'object' && r !== null ? (r as Obj).code : undefined;
  const owned = typeof code === 'number' ? SERVER_OWNED_OPTIONS.get(code) : undefined;
  if (owned !== undefined) throw invalid(`${f}.code`, `${owned}; the DHCP server sets it, so it cannot be given in dhcpOptions`);
  const opt = parseDhcpOption(r, f);
  if (seen.has(opt.code)) throw invalid(`${f}.code`, `DHCP option ${opt.code} is given twice`);
  seen.add(opt.code);
  return opt;
}

/** `ip` (what: "gateway 10.0.0.1") must be a usable host address of the subnet `c`. */
function checkHostOf(c: Cidr, cidr: string, ip: string, field: string, what: string): void {
  if (isHostOf(c, ipToInt(ip))) return;
  const rule = `it must be a usable host address of ${cidr}, not its network (${intToIp(c.network)}) or broadcast (${intToIp(broadcastOf(c))}) address`;
  if (!cidrContains(c, ipToInt(ip))) throw invalid(field, `${what} is outside subnet ${cidr}`);
  throw invalid(field, `${what} is the ${ipToInt(ip) === c.network ? 'network' : 'broadcast'} address of ${cidr}: ${rule}`);
}

export function parseSubnetInput(body: unknown): SubnetInput {
  const o = asObject(body);
  const p = new Problems();
  knownFields(p, o, [
    'name',
    'network',
    'cidr',
    'gatewayIp',
    'enableDhcp',
    'dnsServers',
    'domain',
    'hostRoutes',
    'leaseTime',
    'dhcpOptions',
  ]);
  const name = p.run(() => checkName(o.name));
  const network = p.run(() => reqString(o, 'network'));
  const cidrText = o.cidr as string;
  const cidr = p.run(() => {
    if (typeof o.cidr !== 'string' || o.cidr === '') throw invalid('cidr', 'cidr is required (a string like 10.0.0.0/24)');
    return checkUnicastSubnet(o.cidr, 'cidr');
  });
  const gatewayIp = p.run(() => {
    const gw = optString(o, 'gatewayIp');
    if (gw === undefined) return undefined;
    checkIp(gw, 'gatewayIp');
    if (cidr) checkHostOf(cidr, cidrText, gw, 'gatewayIp', `gateway ${gw}`);
    return gw;
  });
  const enableDhcp = p.run(() => optBool(o, 'enableDhcp', true));
  const dnsServers = (p.run(() => optArray(o, 'dnsServers')) ?? []).map((d, i) => p.run(() => checkUnicastIp(d, `dnsServers[${i}]`))!);
  const domain = p.run(() => {
    const d = optString(o, 'domain');
    if (d !== undefined && !DOMAIN_RE.test(d)) throw invalid('domain', `invalid domain ${JSON.stringify(d)}`);
    return d;
  });
  const hostRoutes = (p.run(() => optArray(o, 'hostRoutes')) ?? []).map((r, i) =>
    p.run(() => {
      const f = `hostRoutes[${i}]`;
      const route = parseHostRoute(r, f);
      if (cidr) checkHostOf(cidr, cidrText, route.nexthop, `${f}.nexthop`, `host route nexthop ${route.nexthop}`);
      return route;
    })!,
  );
  const leaseTime = p.run(() => optInt(o, 'leaseTime', DEFAULT_LEASE, MIN_LEASE, MAX_LEASE));
  const seen = new Set<number>();
  const dhcpOptions = (p.run(() => optArray(o, 'dhcpOptions')) ?? []).map((r, i) =>
    p.run(() => checkUserDhcpOption(r, `dhcpOptions[${i}]`, seen))!,
  );
  p.throwIfAny();
  return {
    name: name!,
    network: network!,
    cidr: cidrText,
    ...(gatewayIp !== undefined ? { gatewayIp } : {}),
    enableDhcp: enableDhcp!,
    dnsServers,
    ...(domain !== undefined ? { domain } : {}),
    hostRoutes,
    leaseTime: leaseTime!,
    dhcpOptions,
  };
}

export interface FixedIpInput {
  subnet?: string;
  ip?: string;
}
export interface PortInput {
  /** The id asked for (a UUID, lowercased), e.g. libvirt's interfaceid or XAPI's VIF uuid; else one is drawn. */
  id?: string;
  name: string;
  network: string;
  mac?: string;
  fixedIps?: FixedIpInput[];
  portSecurity: boolean;
  allowedAddressPairs: { ip: string; mac?: string }[];
  /** Security groups by name or id, as given (the repository resolves them to ids and drops repeats). */
  securityGroups: string[];
  qos?: PortQos;
}

/** Kbit/s and kbit: 1 kbit/s .. 100 Gbit/s (the codec's bound). */
const MAX_RATE_KBPS = 100_000_000;
const QOS_FIELDS = ['ingressRateKbps', 'ingressBurstKb', 'egressRateKbps', 'egressBurstKb'] as const;

/**
 * A port's rate limits: ingress = what the VM sends, egress = what it receives; a burst only with its rate.
 * null or {} = no limits (undefined).
 */
export function parseQosInput(v: unknown, field = 'qos'): PortQos | undefined {
  if (v === undefined || v === null) return undefined;
  const o = asObject(v, field);
  const p = new Problems();
  knownFields(p, o, QOS_FIELDS, `${field}.`);
  const q: PortQos = {};
  for (const k of QOS_FIELDS) {
    const x = o[k];
    if (x === undefined || x === null) continue;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > MAX_RATE_KBPS) {
      p.add(invalid(`${field}.${k}`, `${field}.${k} must be an integer in 1..${MAX_RATE_KBPS} (got ${JSON.stringify(x)})`));
    } else q[k] = x;
  }
  if (o.ingressBurstKb != null && o.ingressRateKbps == null)
    p.add(invalid(`${field}.ingressBurstKb`, `${field}.ingressBurstKb needs ${field}.ingressRateKbps`));
  if (o.egressBurstKb != null && o.egressRateKbps == null)
    p.add(invalid(`${field}.egressBurstKb`, `${field}.egressBurstKb needs ${field}.egressRateKbps`));
  p.throwIfAny();
  return Object.keys(q).length === 0 ? undefined : q;
}

/** A list of security-group references (names or ids), unresolved. */
export function parseGroupRefs(v: unknown, field = 'securityGroups'): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(field, `${field} must be an array of security group names or ids`);
  const p = new Problems();
  const out = v.map((g, i) =>
    p.run(() => {
      if (typeof g !== 'string' || g === '') throw invalid(`${field}[${i}]`, `${field}[${i}] must be a security group name or id`);
      return g;
    }),
  );
  p.throwIfAny();
  return out as string[];
}

/** An id given by the client (a hypervisor's VIF uuid): a UUID, stored lowercase as ids are. */
export function parseObjectId(v: unknown, field = 'id'): string {
  if (typeof v !== 'string' || !UUID_RE.test(v))
    throw invalid(field, `${field} must be a UUID such as 0b7c5a4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d (got ${JSON.stringify(v)})`);
  return v.toLowerCase();
}

export function parsePortInput(body: unknown): PortInput {
  const o = asObject(body);
  const p = new Problems();
  knownFields(p, o, ['id', 'name', 'network', 'mac', 'fixedIps', 'portSecurity', 'allowedAddressPairs', 'securityGroups', 'qos']);
  const id = o.id === undefined || o.id === null ? undefined : p.run(() => parseObjectId(o.id));
  const name = p.run(() => checkName(o.name));
  const network = p.run(() => reqString(o, 'network'));
  const mac = o.mac === undefined || o.mac === null ? undefined : p.run(() => normalizeMac(o.mac, 'mac'));
  let fixedIps: FixedIpInput[] | undefined;
  if (o.fixedIps !== undefined && o.fixedIps !== null) {
    fixedIps = (p.run(() => optArray(o, 'fixedIps')) ?? []).map((e, i) =>
      p.run(() => {
        const f = `fixedIps[${i}]`;
        const x = asObject(e, f);
        onlyFields(x, ['subnet', 'ip'], `${f}.`);
        const subnet = optString(x, 'subnet', `${f}.`);
        const ip = x.ip === undefined || x.ip === null ? undefined : checkIp(x.ip, `${f}.ip`);
        if (subnet === undefined && ip === undefined) throw invalid(f, `${f} needs a subnet or an ip`);
        return { ...(subnet !== undefined ? { subnet } : {}), ...(ip !== undefined ? { ip } : {}) };
      })!,
    );
  }
  const pairs = parseAddressPairs(p, o);
  const portSecurity = p.run(() => optBool(o, 'portSecurity', true));
  const securityGroups = p.run(() => parseGroupRefs(o.securityGroups));
  const qos = p.run(() => parseQosInput(o.qos));
  p.throwIfAny();
  return {
    ...(id !== undefined ? { id } : {}),
    name: name!,
    network: network!,
    ...(mac !== undefined ? { mac } : {}),
    ...(fixedIps !== undefined ? { fixedIps } : {}),
    portSecurity: portSecurity!,
    allowedAddressPairs: pairs,
    securityGroups: securityGroups!,
    ...(qos !== undefined ? { qos } : {}),
  };
}

/** `allowedAddressPairs` of a port body (creation or update), every bad entry recorded in `p`. */
function parseAddressPairs(p: Problems, o: Obj): { ip: string; mac?: string }[] {
  return (p.run(() => optArray(o, 'allowedAddressPairs')) ?? []).map((e, i) =>
    p.run(() => {
      const f = `allowedAddressPairs[${i}]`;
      const x = asObject(e, f);
      onlyFields(x, ['ip', 'mac'], `${f}.`);
      const ip = checkAddressPair(x.ip, `${f}.ip`);
      const pm = x.mac === undefined || x.mac === null ? undefined : normalizeMac(x.mac, `${f}.mac`);
      return pm === undefined ? { ip } : { ip, mac: pm };
    })!,
  );
}

export interface PortPatch {
  portSecurity?: boolean;
  allowedAddressPairs?: { ip: string; mac?: string }[];
  /** Replaces the list (names or ids, unresolved); [] = none. */
  securityGroups?: string[];
  /** Replaces the limits; null = none. */
  qos?: PortQos | null;
}

/**
 * PATCH /v1/ports/{port}: port security, the allowed address pairs and the security groups (each list replaced as
 * a whole; `[]` clears it), the rate limits (an object replaces them, null clears them), with the creation rules.
 * An empty body is refused: it would change nothing.
 */
export function parsePortPatch(body: unknown): PortPatch {
  const o = asObject(body);
  const p = new Problems();
  const fields = ['portSecurity', 'allowedAddressPairs', 'securityGroups', 'qos'];
  for (const k of Object.keys(o)) {
    if (!fields.includes(k)) p.add(invalid(k, `field "${k}" cannot be changed (only ${fields.join(', ')})`));
  }
  if (Object.keys(o).length === 0) p.add(invalid(undefined, `nothing to change: give one or more of ${fields.join(', ')}`));
  let portSecurity: boolean | undefined;
  if ('portSecurity' in o) {
    portSecurity = p.run(() => {
      if (typeof o.portSecurity !== 'boolean') throw invalid('portSecurity', 'portSecurity must be true or false');
      return o.portSecurity;
    });
  }
  let pairs: { ip: string; mac?: string }[] | undefined;
  if ('allowedAddressPairs' in o) {
    if (!Array.isArray(o.allowedAddressPairs)) p.add(invalid('allowedAddressPairs', 'allowedAddressPairs must be an array'));
    else pairs = parseAddressPairs(p, o);
  }
  let securityGroups: string[] | undefined;
  if ('securityGroups' in o) {
    if (!Array.isArray(o.securityGroups)) p.add(invalid('securityGroups', 'securityGroups must be an array ([] = none)'));
    else securityGroups = p.run(() => parseGroupRefs(o.securityGroups));
  }
  let qos: PortQos | null | undefined;
  if ('qos' in o) qos = o.qos === null ? null : (p.run(() => parseQosInput(o.qos)) ?? null);
  p.throwIfAny();
  return {
    ...(portSecurity !== undefined ? { portSecurity } : {}),
    ...(pairs !== undefined ? { allowedAddressPairs: pairs } : {}),
    ...(securityGroups !== undefined ? { securityGroups } : {}),
    ...(qos !== undefined ? { qos } : {}),
  };
}

export interface RouterInput {
  name: string;
  mode: RouterMode;
}
export function parseMode(v: unknown, field = 'mode'): RouterMode {
  if (v === 'proactive' || v === 'reactive') return v;
  throw invalid(field, `${field} must be "proactive" or "reactive" (got ${JSON.stringify(v)})`);
}
export function parseRouterInput(body: unknown): RouterInput {
  const o = asObject(body);
  const p = new Problems();
  knownFields(p, o, ['name', 'mode']);
  const name = p.run(() => checkName(o.name));
  const mode = p.run(() => (o.mode === undefined ? 'proactive' : parseMode(o.mode)));
  p.throwIfAny();
  return { name: name!, mode: mode! };
}

/** PATCH /v1/routers/{router}: only the mode can change (interfaces and routes have their own requests). */
export function parseRouterPatch(body: unknown): { mode: RouterMode } {
  const o = asObject(body);
  const p = new Problems();
  for (const k of Object.keys(o)) {
    if (k !== 'mode') p.add(invalid(k, `field "${k}" cannot be changed (only mode; interfaces and routes have their own requests)`));
  }
  const mode = p.run(() => parseMode(o.mode));
  p.throwIfAny();
  return { mode: mode! };
}

export interface InterfaceInput {
  subnet: string;
  ip?: string;
}
export function parseInterfaceInput(body: unknown): InterfaceInput {
  const o = asObject(body);
  const p = new Problems();
  knownFields(p, o, ['subnet', 'ip']);
  const ip = o.ip === undefined || o.ip === null ? undefined : p.run(() => checkIp(o.ip, 'ip'));
  const subnet = p.run(() => reqString(o, 'subnet'));
  p.throwIfAny();
  return { subnet: subnet!, ...(ip !== undefined ? { ip } : {}) };
}

export interface RouteInput {
  cidr: string;
  nexthop: string;
}
export function parseRouteInput(body: unknown): RouteInput {
  const o = asObject(body);
  const p = new Problems();
  knownFields(p, o, ['cidr', 'nexthop']);
  const cidr = p.run(() => {
    const c = reqString(o, 'cidr');
    parseRouteCidr(c, 'cidr');
    return c;
  });
  const nexthop = p.run(() => checkUnicastIp(o.nexthop, 'nexthop'));
  p.throwIfAny();
  return { cidr: cidr!, nexthop: nexthop! };
}
