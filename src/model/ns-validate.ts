/**
 * Validation of north–south requests (issue 14): a router's gateway (PUT /v1/routers/{r}/gateway) and floating IPs
 * (POST / PATCH /v1/floating-ips). Field rules only; references and addresses are checked by gateways.ts and
 * fips.ts, which see the store.
 */
import { MAX_GATEWAY_CHASSIS } from './codec.js';
import { invalid, Problems } from './errors.js';
import { asObject, checkIp, onlyFields, reqString, type Obj } from './validate.js';

export interface GatewayInput {
  /** The provider network, by name or id. */
  network: string;
  ip?: string;
  /** Candidate chassis in priority order; absent = every live chassis reaching the network's physnet. */
  chassis?: string[];
}

function knownFields(p: Problems, o: Obj, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) p.run(() => onlyFields({ [k]: o[k] }, allowed));
}

const optIp = (o: Obj, k: string): string | undefined => (o[k] === undefined || o[k] === null ? undefined : checkIp(o[k], k));

export function parseGatewayInput(body: unknown): GatewayInput {
  const o = asObject(body);
  const p = new Problems();
  knownFields(p, o, ['network', 'ip', 'chassis']);
  const network = p.run(() => reqString(o, 'network'));
  const ip = p.run(() => optIp(o, 'ip'));
  const chassis = p.run(() => {
    const v = o.chassis;
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.length === 0 || v.length > MAX_GATEWAY_CHASSIS)
      throw invalid('chassis', `chassis must be a list of 1..${MAX_GATEWAY_CHASSIS} chassis names, highest priority first`);
    const seen = new Set<string>();
    return v.map((c, i) => {
      if (typeof c !== 'string' || c === '') throw invalid(`chassis[${i}]`, `chassis[${i}] must be a chassis name`);
      if (seen.has(c)) throw invalid(`chassis[${i}]`, `chassis ${c} is listed twice`);
      seen.add(c);
      return c;
    });
  });
  p.throwIfAny();
  return { network: network!, ...(ip !== undefined ? { ip } : {}), ...(chassis !== undefined ? { chassis } : {}) };
}

export interface FipAssociation {
  /** The port, by name or id. */
  port: string;
  /** Which of its fixed IPs (default: its first). */
  fixedIp?: string;
}

export interface FipInput {
  network: string;
  ip?: string;
  association?: FipAssociation;
}

function parseAssociation(p: Problems, o: Obj): FipAssociation | undefined {
  const port = p.run(() => (o.port === undefined || o.port === null ? undefined : reqString(o, 'port')));
  const fixedIp = p.run(() => optIp(o, 'fixedIp'));
  if (fixedIp !== undefined && port === undefined) p.add(invalid('fixedIp', 'fixedIp needs port'));
  return port === undefined ? undefined : { port, ...(fixedIp !== undefined ? { fixedIp } : {}) };
}

export function parseFipInput(body: unknown): FipInput {
  const o = asObject(body);
  const p = new Problems();
  knownFields(p, o, ['network', 'ip', 'port', 'fixedIp']);
  const network = p.run(() => reqString(o, 'network'));
  const ip = p.run(() => optIp(o, 'ip'));
  const association = parseAssociation(p, o);
  p.throwIfAny();
  return { network: network!, ...(ip !== undefined ? { ip } : {}), ...(association ? { association } : {}) };
}

/** PATCH: `port` (with an optional `fixedIp`) associates, `port: null` disassociates. */
export function parseFipPatch(body: unknown): { association: FipAssociation | null } {
  const o = asObject(body);
  const p = new Problems();
  for (const k of Object.keys(o)) {
    if (k !== 'port' && k !== 'fixedIp') p.add(invalid(k, `field "${k}" cannot be changed (only port and fixedIp)`));
  }
  if (!('port' in o)) p.add(invalid('port', 'port is required: a port name or id to associate, or null to disassociate'));
  if (o.port === null && o.fixedIp !== undefined && o.fixedIp !== null) p.add(invalid('fixedIp', 'fixedIp needs port'));
  const association = o.port === null ? null : parseAssociation(p, o);
  p.throwIfAny();
  return { association: association ?? null };
}
