/**
 * Shape validation of create requests (API bodies). Each function returns a normalised input
 * or throws ModelError INVALID naming the offending field. Cross-object rules (overlaps,
 * uniqueness, references) live in the repository, which sees the store.
 */
import { invalid } from './errors.js';
import { isIpv4, parseRouteCidr } from './ipam.js';
import { normalizeMac } from './macs.js';
import type { DhcpOption, HostRoute, RouterMode, Subnet } from './types.js';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$/;

export const DEFAULT_MTU = 1450; // 1500 underlay minus VXLAN overhead
export const DEFAULT_LEASE = 86400;

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

export function checkName(v: unknown, field = 'name'): string {
  if (typeof v !== 'string' || v === '') throw invalid(field, `${field} is required (a string)`);
  if (!NAME_RE.test(v)) {
    throw invalid(field, `invalid ${field} ${JSON.stringify(v)}: 1-63 characters of letters, digits, . _ : - starting with a letter or digit`);
  }
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

export interface NetworkInput { name: string; mtu: number }
export function parseNetworkInput(body: unknown): NetworkInput {
  const o = asObject(body);
  onlyFields(o, ['name', 'mtu']);
  return { name: checkName(o.name), mtu: optInt(o, 'mtu', DEFAULT_MTU, 576, 9000) };
}

/** A subnet as requested: the network by name or id, the gateway optional (defaulted by the repository). */
export type SubnetInput = Omit<Subnet, 'id' | 'networkId' | 'gatewayIp'> & { network: string; gatewayIp?: string };

const DOMAIN_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function parseHostRoutes(list: unknown[], field = 'hostRoutes'): HostRoute[] {
  return list.map((r, i) => {
    const f = `${field}[${i}]`;
    const o = asObject(r, f);
    onlyFields(o, ['destination', 'nexthop'], `${f}.`);
    const dest = reqString(o, 'destination', `${f}.`);
    parseRouteCidr(dest, `${f}.destination`);
    return { destination: dest, nexthop: checkIp(o.nexthop, `${f}.nexthop`) };
  });
}

export function parseDhcpOptions(list: unknown[], field = 'dhcpOptions'): DhcpOption[] {
  return list.map((r, i) => {
    const f = `${field}[${i}]`;
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
  });
}

export function parseSubnetInput(body: unknown): SubnetInput {
  const o = asObject(body);
  onlyFields(o, ['name', 'network', 'cidr', 'gatewayIp', 'enableDhcp', 'dnsServers', 'domain', 'hostRoutes', 'leaseTime', 'dhcpOptions']);
  const gw = optString(o, 'gatewayIp');
  const domain = optString(o, 'domain');
  if (domain !== undefined && !DOMAIN_RE.test(domain)) throw invalid('domain', `invalid domain ${JSON.stringify(domain)}`);
  const cidr = o.cidr;
  if (typeof cidr !== 'string' || cidr === '') throw invalid('cidr', 'cidr is required (a string like 10.0.0.0/24)');
  return {
    name: checkName(o.name),
    network: reqString(o, 'network'),
    cidr,
    ...(gw !== undefined ? { gatewayIp: checkIp(gw, 'gatewayIp') } : {}),
    enableDhcp: optBool(o, 'enableDhcp', true),
    dnsServers: optArray(o, 'dnsServers').map((d, i) => checkIp(d, `dnsServers[${i}]`)),
    ...(domain !== undefined ? { domain } : {}),
    hostRoutes: parseHostRoutes(optArray(o, 'hostRoutes')),
    leaseTime: optInt(o, 'leaseTime', DEFAULT_LEASE, 60, 31_536_000),
    dhcpOptions: parseDhcpOptions(optArray(o, 'dhcpOptions')),
  };
}

export interface FixedIpInput { subnet?: string; ip?: string }
export interface PortInput {
  name: string;
  network: string;
  mac?: string;
  fixedIps?: FixedIpInput[];
  portSecurity: boolean;
  allowedAddressPairs: { ip: string; mac?: string }[];
}

export function parsePortInput(body: unknown): PortInput {
  const o = asObject(body);
  onlyFields(o, ['name', 'network', 'mac', 'fixedIps', 'portSecurity', 'allowedAddressPairs']);
  const mac = o.mac === undefined || o.mac === null ? undefined : normalizeMac(o.mac, 'mac');
  let fixedIps: FixedIpInput[] | undefined;
  if (o.fixedIps !== undefined && o.fixedIps !== null) {
    fixedIps = optArray(o, 'fixedIps').map((e, i) => {
      const f = `fixedIps[${i}]`;
      const x = asObject(e, f);
      onlyFields(x, ['subnet', 'ip'], `${f}.`);
      const subnet = optString(x, 'subnet', `${f}.`);
      const ip = x.ip === undefined || x.ip === null ? undefined : checkIp(x.ip, `${f}.ip`);
      if (subnet === undefined && ip === undefined) throw invalid(f, `${f} needs a subnet or an ip`);
      return { ...(subnet !== undefined ? { subnet } : {}), ...(ip !== undefined ? { ip } : {}) };
    });
  }
  const pairs = optArray(o, 'allowedAddressPairs').map((e, i) => {
    const f = `allowedAddressPairs[${i}]`;
    const x = asObject(e, f);
    onlyFields(x, ['ip', 'mac'], `${f}.`);
    const ip = reqString(x, 'ip', `${f}.`);
    if (!isIpv4(ip)) parseRouteCidr(ip, `${f}.ip`);
    const pm = x.mac === undefined || x.mac === null ? undefined : normalizeMac(x.mac, `${f}.mac`);
    return pm === undefined ? { ip } : { ip, mac: pm };
  });
  return {
    name: checkName(o.name),
    network: reqString(o, 'network'),
    ...(mac !== undefined ? { mac } : {}),
    ...(fixedIps !== undefined ? { fixedIps } : {}),
    portSecurity: optBool(o, 'portSecurity', true),
    allowedAddressPairs: pairs,
  };
}

export interface RouterInput { name: string; mode: RouterMode }
export function parseMode(v: unknown, field = 'mode'): RouterMode {
  if (v === 'proactive' || v === 'reactive') return v;
  throw invalid(field, `${field} must be "proactive" or "reactive" (got ${JSON.stringify(v)})`);
}
export function parseRouterInput(body: unknown): RouterInput {
  const o = asObject(body);
  onlyFields(o, ['name', 'mode']);
  return { name: checkName(o.name), mode: o.mode === undefined ? 'proactive' : parseMode(o.mode) };
}

export interface InterfaceInput { subnet: string; ip?: string }
export function parseInterfaceInput(body: unknown): InterfaceInput {
  const o = asObject(body);
  onlyFields(o, ['subnet', 'ip']);
  const ip = o.ip === undefined || o.ip === null ? undefined : checkIp(o.ip, 'ip');
  return { subnet: reqString(o, 'subnet'), ...(ip !== undefined ? { ip } : {}) };
}

export interface RouteInput { cidr: string; nexthop: string }
export function parseRouteInput(body: unknown): RouteInput {
  const o = asObject(body);
  onlyFields(o, ['cidr', 'nexthop']);
  const cidr = reqString(o, 'cidr');
  parseRouteCidr(cidr, 'cidr');
  return { cidr, nexthop: checkIp(o.nexthop, 'nexthop') };
}
