/**
 * JSON ⇄ typed objects. Decoders validate what they read (from the store or an imported
 * document) so corrupt or foreign data fails loudly with the field at fault instead of
 * propagating into agents' flow computation.
 */
import { invalid } from './errors.js';
import { parseRouteCidr, parseSubnetCidr } from './addr-rules.js';
import { normalizeMac } from './macs.js';
import { DEFAULT_SITE, NETWORK_TOPOLOGIES } from './types.js';
import type {
  Binding,
  CenterLease,
  Chassis,
  FloatingIp,
  GatewayLease,
  Network,
  Port,
  PortQos,
  ProviderSegment,
  Router,
  RouterGateway,
  SecurityGroup,
  SgMember,
  SgRule,
  Site,
  SiteGatewayLease,
  Subnet,
} from './types.js';
import { asObject, checkIp, parseDhcpOptions, parseHostRoutes, parseMode, UUID_RE } from './validate.js';

type Obj = Record<string, unknown>;

function parse(v: string | unknown, what: string): Obj {
  if (typeof v !== 'string') return asObject(v, what);
  try {
    return asObject(JSON.parse(v), what);
  } catch (e) {
    if (e instanceof SyntaxError) throw invalid(what, `${what} is not valid JSON: ${e.message}`);
    throw e;
  }
}
function str(o: Obj, k: string, at: string): string {
  const v = o[k];
  if (typeof v !== 'string' || v === '') throw invalid(`${at}.${k}`, `${at}.${k} must be a non-empty string`);
  return v;
}
function id(o: Obj, k: string, at: string): string {
  const v = str(o, k, at);
  if (!UUID_RE.test(v)) throw invalid(`${at}.${k}`, `${at}.${k} must be a UUID`);
  return v;
}
function int(o: Obj, k: string, at: string, min: number, max: number): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(`${at}.${k}`, `${at}.${k} must be an integer in ${min}..${max}`);
  }
  return v;
}
function bool(o: Obj, k: string, at: string): boolean {
  const v = o[k];
  if (typeof v !== 'boolean') throw invalid(`${at}.${k}`, `${at}.${k} must be a boolean`);
  return v;
}
function arr(o: Obj, k: string, at: string): unknown[] {
  const v = o[k];
  if (!Array.isArray(v)) throw invalid(`${at}.${k}`, `${at}.${k} must be an array`);
  return v;
}

export const MAX_TUNNEL_KEY = 16_777_215;
export const MAX_PORT_KEY = 0xffff_fffe;
export const MAX_ROUTER_KEY = 0xffff_fffe;

/** A physical network name: what bridge_mappings keys and provider networks use. */
export const PHYSNET_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** A chassis name: what agents register as (config `chassis`); also what center and gateway candidate lists hold. */
export const CHASSIS_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** A site name (agent config `site`, `wyvern site …`): the same rule as a chassis name (it ends up in store keys). */
export const SITE_RE = CHASSIS_NAME_RE;
export const SITE_RULE = "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit";
/** Star center candidates and site gateway candidates: a bounded preference list. */
export const MAX_CANDIDATES = 64;

/** A list of distinct chassis names (center preference, site gateway candidates), 1..MAX_CANDIDATES of them. */
export function decodeChassisList(v: unknown, at: string): string[] {
  if (!Array.isArray(v)) throw invalid(at, `${at} must be an array of chassis names`);
  const list = v.map((c, i) => {
    if (typeof c !== 'string' || !CHASSIS_NAME_RE.test(c))
      throw invalid(`${at}[${i}]`, `${at}[${i}] must be a chassis name (${SITE_RULE}), got ${JSON.stringify(c)}`);
    return c;
  });
  if (list.length < 1 || list.length > MAX_CANDIDATES) throw invalid(at, `${at} must name 1..${MAX_CANDIDATES} chassis`);
  const dup = list.find((c, i) => list.indexOf(c) !== i);
  if (dup !== undefined) throw invalid(at, `${at} names chassis ${dup} twice`);
  return list;
}

export function checkSiteName(v: unknown, at = 'site'): string {
  if (typeof v !== 'string' || !SITE_RE.test(v)) throw invalid(at, `invalid ${at} ${JSON.stringify(v)}: ${SITE_RULE}`);
  return v;
}

export function decodeProviderSegment(v: unknown, at = 'provider'): ProviderSegment {
  const o = asObject(v, at);
  const physnet = str(o, 'physnet', at);
  if (!PHYSNET_RE.test(physnet)) throw invalid(`${at}.physnet`, `${at}.physnet must be 1-64 letters, digits, '_', '.' or '-'`);
  const seg: ProviderSegment = { physnet };
  if (o.vlan !== undefined) seg.vlan = int(o, 'vlan', at, 1, 4094);
  return seg;
}

export function decodeNetwork(v: string | unknown, at = 'network'): Network {
  const o = parse(v, at);
  const n: Network = {
    id: id(o, 'id', at),
    name: str(o, 'name', at),
    tunnelKey: int(o, 'tunnelKey', at, 1, MAX_TUNNEL_KEY),
    mtu: int(o, 'mtu', at, 576, 9000),
  };
  if (o.provider !== undefined) n.provider = decodeProviderSegment(o.provider, `${at}.provider`);
  if (o.topology !== undefined) {
    if (!NETWORK_TOPOLOGIES.includes(o.topology as never))
      throw invalid(`${at}.topology`, `${at}.topology must be ${NETWORK_TOPOLOGIES.join(' or ')}, not ${JSON.stringify(o.topology)}`);
    // A provider network has no tunnels: the physical network joins its chassis, there is nothing to relay.
    if (o.topology === 'star' && n.provider)
      throw invalid(`${at}.topology`, `${at}.topology: a provider network cannot be a star (it has no tunnels to relay over)`);
    // mesh is the default: stored absent so documents written before issue 16 stay byte-equal.
    if (o.topology === 'star') n.topology = 'star';
  }
  if (o.centers !== undefined) {
    n.centers = decodeChassisList(o.centers, `${at}.centers`);
    if (n.topology !== 'star') throw invalid(`${at}.centers`, `${at}.centers: a center preference only with topology star`);
  }
  return n;
}

export function decodeSubnet(v: string | unknown, at = 'subnet'): Subnet {
  const o = parse(v, at);
  const cidr = str(o, 'cidr', at);
  parseSubnetCidr(cidr, `${at}.cidr`);
  const s: Subnet = {
    id: id(o, 'id', at),
    name: str(o, 'name', at),
    networkId: id(o, 'networkId', at),
    cidr,
    gatewayIp: checkIp(o.gatewayIp, `${at}.gatewayIp`),
    enableDhcp: bool(o, 'enableDhcp', at),
    dnsServers: arr(o, 'dnsServers', at).map((d, i) => checkIp(d, `${at}.dnsServers[${i}]`)),
    hostRoutes: parseHostRoutes(arr(o, 'hostRoutes', at), `${at}.hostRoutes`),
    leaseTime: int(o, 'leaseTime', at, 1, 2 ** 31),
    dhcpOptions: parseDhcpOptions(arr(o, 'dhcpOptions', at), `${at}.dhcpOptions`),
  };
  if (o.domain !== undefined) s.domain = str(o, 'domain', at);
  return s;
}

export function decodePort(v: string | unknown, at = 'port'): Port {
  const o = parse(v, at);
  return {
    id: id(o, 'id', at),
    name: str(o, 'name', at),
    networkId: id(o, 'networkId', at),
    mac: normalizeMac(o.mac, `${at}.mac`),
    fixedIps: arr(o, 'fixedIps', at).map((e, i) => {
      const f = `${at}.fixedIps[${i}]`;
      const x = asObject(e, f);
      return { subnetId: id(x, 'subnetId', f), ip: checkIp(x.ip, `${f}.ip`) };
    }),
    portSecurity: bool(o, 'portSecurity', at),
    allowedAddressPairs: arr(o, 'allowedAddressPairs', at).map((e, i) => {
      const f = `${at}.allowedAddressPairs[${i}]`;
      const x = asObject(e, f);
      const ip = str(x, 'ip', f);
      return x.mac === undefined ? { ip } : { ip, mac: normalizeMac(x.mac, `${f}.mac`) };
    }),
    portKey: int(o, 'portKey', at, 1, MAX_PORT_KEY),
    // Documents written before security groups have none.
    securityGroups: o.securityGroups === undefined ? [] : arr(o, 'securityGroups', at).map((g, i) => idAt(g, `${at}.securityGroups[${i}]`)),
    ...(o.qos === undefined ? {} : { qos: decodeQos(o.qos, `${at}.qos`) }),
  };
}

function idAt(v: unknown, at: string): string {
  if (typeof v !== 'string' || !UUID_RE.test(v)) throw invalid(at, `${at} must be a UUID`);
  return v;
}

/** Kbit/s and kbit: 1 kbit/s .. 100 Gbit/s. */
export const MAX_RATE_KBPS = 100_000_000;

function decodeQos(v: unknown, at: string): PortQos {
  const o = asObject(v, at);
  const q: PortQos = {};
  for (const k of ['ingressRateKbps', 'ingressBurstKb', 'egressRateKbps', 'egressBurstKb'] as const) {
    if (o[k] !== undefined) q[k] = int(o, k, at, 1, MAX_RATE_KBPS);
  }
  if (q.ingressBurstKb !== undefined && q.ingressRateKbps === undefined)
    throw invalid(`${at}.ingressBurstKb`, `${at}.ingressBurstKb needs ingressRateKbps`);
  if (q.egressBurstKb !== undefined && q.egressRateKbps === undefined)
    throw invalid(`${at}.egressBurstKb`, `${at}.egressBurstKb needs egressRateKbps`);
  return q;
}

export const MAX_SG_KEY = 0xffff_fffe;
/** Rule keys stay below 2^31: the ACL's remote-group conjunction ids take the upper half. */
export const MAX_SG_RULE_KEY = 0x7fff_ffff;

function decodeSgRule(v: unknown, at: string): SgRule {
  const o = asObject(v, at);
  const direction = o.direction;
  if (direction !== 'ingress' && direction !== 'egress') throw invalid(`${at}.direction`, `${at}.direction must be "ingress" or "egress"`);
  const proto = o.protocol;
  let protocol: SgRule['protocol'];
  if (proto === 'any' || proto === 'tcp' || proto === 'udp' || proto === 'icmp') protocol = proto;
  else if (typeof proto === 'number' && Number.isInteger(proto) && proto >= 0 && proto <= 255 && ![1, 6, 17].includes(proto))
    protocol = proto;
  else throw invalid(`${at}.protocol`, `${at}.protocol must be any, tcp, udp, icmp or an IP protocol number other than 1, 6, 17`);
  const r: SgRule = { id: id(o, 'id', at), ruleKey: int(o, 'ruleKey', at, 1, MAX_SG_RULE_KEY), direction, protocol };
  if (o.portMin !== undefined || o.portMax !== undefined) {
    if (protocol !== 'tcp' && protocol !== 'udp') throw invalid(`${at}.portMin`, `${at}: ports only with tcp or udp`);
    r.portMin = int(o, 'portMin', at, 1, 65535);
    r.portMax = int(o, 'portMax', at, r.portMin, 65535);
  }
  if (o.icmpType !== undefined) {
    if (protocol !== 'icmp') throw invalid(`${at}.icmpType`, `${at}: an ICMP type only with icmp`);
    r.icmpType = int(o, 'icmpType', at, 0, 255);
  }
  if (o.icmpCode !== undefined) {
    if (r.icmpType === undefined) throw invalid(`${at}.icmpCode`, `${at}: an ICMP code only with a type`);
    r.icmpCode = int(o, 'icmpCode', at, 0, 255);
  }
  if (o.remoteCidr !== undefined && o.remoteGroupId !== undefined)
    throw invalid(`${at}.remoteCidr`, `${at}: a remote CIDR or a remote group, not both`);
  if (o.remoteCidr !== undefined) {
    const c = str(o, 'remoteCidr', at);
    parseRouteCidr(c, `${at}.remoteCidr`);
    r.remoteCidr = c;
  }
  if (o.remoteGroupId !== undefined) r.remoteGroupId = id(o, 'remoteGroupId', at);
  return r;
}

export function decodeSecurityGroup(v: string | unknown, at = 'securityGroup'): SecurityGroup {
  const o = parse(v, at);
  return {
    id: id(o, 'id', at),
    name: str(o, 'name', at),
    description: typeof o.description === 'string' ? o.description : '',
    groupKey: int(o, 'groupKey', at, 1, MAX_SG_KEY),
    rules: arr(o, 'rules', at).map((r, i) => decodeSgRule(r, `${at}.rules[${i}]`)),
  };
}

export function decodeSgMember(v: string | unknown, at = 'sgMember'): SgMember {
  const o = parse(v, at);
  return {
    portId: id(o, 'portId', at),
    networkId: id(o, 'networkId', at),
    addresses: arr(o, 'addresses', at).map((a, i) => {
      const f = `${at}.addresses[${i}]`;
      if (typeof a !== 'string') throw invalid(f, `${f} must be an IPv4 address or CIDR`);
      parseRouteCidr(a.includes('/') ? a : `${a}/32`, f);
      return a;
    }),
  };
}

export function decodeRouter(v: string | unknown, at = 'router'): Router {
  const o = parse(v, at);
  return {
    id: id(o, 'id', at),
    name: str(o, 'name', at),
    routerKey: int(o, 'routerKey', at, 1, MAX_ROUTER_KEY),
    mac: normalizeMac(o.mac, `${at}.mac`),
    mode: parseMode(o.mode, `${at}.mode`),
    interfaces: arr(o, 'interfaces', at).map((e, i) => {
      const f = `${at}.interfaces[${i}]`;
      const x = asObject(e, f);
      return {
        subnetId: id(x, 'subnetId', f),
        networkId: id(x, 'networkId', f),
        ip: checkIp(x.ip, `${f}.ip`),
        mac: normalizeMac(x.mac, `${f}.mac`),
      };
    }),
    routes: arr(o, 'routes', at).map((e, i) => {
      const f = `${at}.routes[${i}]`;
      const x = asObject(e, f);
      return { cidr: str(x, 'cidr', f), nexthop: checkIp(x.nexthop, `${f}.nexthop`) };
    }),
    ...(o.gateway !== undefined ? { gateway: decodeRouterGateway(o.gateway, `${at}.gateway`) } : {}),
  };
}

export const MAX_GATEWAY_CHASSIS = 16;

export function decodeRouterGateway(v: unknown, at = 'gateway'): RouterGateway {
  const o = asObject(v, at);
  const chassis = arr(o, 'chassis', at).map((c, i) => {
    if (typeof c !== 'string' || c === '') throw invalid(`${at}.chassis[${i}]`, `${at}.chassis[${i}] must be a chassis name`);
    return c;
  });
  if (chassis.length < 1 || chassis.length > MAX_GATEWAY_CHASSIS)
    throw invalid(`${at}.chassis`, `${at}.chassis must name 1..${MAX_GATEWAY_CHASSIS} chassis`);
  if (new Set(chassis).size !== chassis.length) throw invalid(`${at}.chassis`, `${at}.chassis names a chassis twice`);
  return {
    networkId: id(o, 'networkId', at),
    subnetId: id(o, 'subnetId', at),
    ip: checkIp(o.ip, `${at}.ip`),
    mac: normalizeMac(o.mac, `${at}.mac`),
    chassis,
  };
}

export function decodeFloatingIp(v: string | unknown, at = 'floatingIp'): FloatingIp {
  const o = parse(v, at);
  const f: FloatingIp = {
    id: id(o, 'id', at),
    networkId: id(o, 'networkId', at),
    ip: checkIp(o.ip, `${at}.ip`),
    mac: normalizeMac(o.mac, `${at}.mac`),
  };
  const assoc = ['portId', 'portNetworkId', 'fixedIp', 'routerId'].filter((k) => o[k] !== undefined);
  if (assoc.length > 0 && assoc.length < 4)
    throw invalid(`${at}.portId`, `${at}: portId, portNetworkId, fixedIp and routerId come together or not at all`);
  if (assoc.length === 4) {
    f.portId = id(o, 'portId', at);
    f.portNetworkId = id(o, 'portNetworkId', at);
    f.fixedIp = checkIp(o.fixedIp, `${at}.fixedIp`);
    f.routerId = id(o, 'routerId', at);
  }
  return f;
}

export function decodeGatewayLease(v: string | unknown, at = 'gatewayLease'): GatewayLease {
  const o = parse(v, at);
  return { routerId: id(o, 'routerId', at), chassis: str(o, 'chassis', at), since: str(o, 'since', at) };
}

export function decodeCenterLease(v: string | unknown, at = 'centerLease'): CenterLease {
  const o = parse(v, at);
  return { networkId: id(o, 'networkId', at), chassis: str(o, 'chassis', at), since: str(o, 'since', at) };
}

export function decodeSite(v: string | unknown, at = 'site'): Site {
  const o = parse(v, at);
  return {
    name: checkSiteName(o.name, `${at}.name`),
    gatewayCandidates: decodeChassisList(o.gatewayCandidates, `${at}.gatewayCandidates`),
  };
}

export function decodeSiteGatewayLease(v: string | unknown, at = 'siteGatewayLease'): SiteGatewayLease {
  const o = parse(v, at);
  return { site: checkSiteName(o.site, `${at}.site`), chassis: str(o, 'chassis', at), since: str(o, 'since', at) };
}

export function decodeChassis(v: string | unknown, at = 'chassis'): Chassis {
  const o = parse(v, at);
  const c: Chassis = {
    name: str(o, 'name', at),
    tunnelIp: checkIp(o.tunnelIp, `${at}.tunnelIp`),
    encaps: arr(o, 'encaps', at).map((e, i) => {
      if (typeof e !== 'string') throw invalid(`${at}.encaps[${i}]`, 'encapsulation must be a string');
      return e;
    }),
    version: typeof o.version === 'string' ? o.version : '',
  };
  if (typeof o.registeredAt === 'string') c.registeredAt = o.registeredAt;
  const physnets = (field: 'physnets' | 'uplinksDown'): string[] =>
    arr(o, field, at).map((p, i) => {
      if (typeof p !== 'string' || !PHYSNET_RE.test(p))
        throw invalid(`${at}.${field}[${i}]`, `${at}.${field}[${i}] must be a physical network name`);
      return p;
    });
  if (o.physnets !== undefined) c.physnets = physnets('physnets');
  if (o.uplinksDown !== undefined) c.uplinksDown = physnets('uplinksDown');
  // The default site is stored absent: chassis records of agents before issue 16 mean the same.
  if (o.site !== undefined && o.site !== DEFAULT_SITE) c.site = checkSiteName(o.site, `${at}.site`);
  return c;
}

export function decodeBinding(v: string | unknown, at = 'binding'): Binding {
  const o = parse(v, at);
  const b: Binding = { chassis: str(o, 'chassis', at), updatedAt: str(o, 'updatedAt', at) };
  if (o.ofport !== undefined) b.ofport = int(o, 'ofport', at, 1, 0xfffffeff);
  return b;
}

/*
 * Canonical JSON for storage: objects go through their decoder first, so key order (and
 * normalisation) is the same whoever built them — equal objects are equal strings, which is
 * what makes topology import idempotent.
 */
export const encodeNetwork = (n: Network): string => JSON.stringify(decodeNetwork(n));
export const encodeSubnet = (s: Subnet): string => JSON.stringify(decodeSubnet(s));
export const encodePort = (p: Port): string => JSON.stringify(decodePort(p));
export const encodeRouter = (r: Router): string => JSON.stringify(decodeRouter(r));
export const encodeChassis = (c: Chassis): string => JSON.stringify(decodeChassis(c));
export const encodeBinding = (b: Binding): string => JSON.stringify(decodeBinding(b));
export const encodeSecurityGroup = (g: SecurityGroup): string => JSON.stringify(decodeSecurityGroup(g));
export const encodeSgMember = (m: SgMember): string => JSON.stringify(decodeSgMember(m));
export const encodeFloatingIp = (f: FloatingIp): string => JSON.stringify(decodeFloatingIp(f));
export const encodeGatewayLease = (g: GatewayLease): string => JSON.stringify(decodeGatewayLease(g));
export const encodeCenterLease = (c: CenterLease): string => JSON.stringify(decodeCenterLease(c));
export const encodeSite = (s: Site): string => JSON.stringify(decodeSite(s));
export const encodeSiteGatewayLease = (g: SiteGatewayLease): string => JSON.stringify(decodeSiteGatewayLease(g));
