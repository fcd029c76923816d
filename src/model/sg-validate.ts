/**
 * Validation of security-group requests (POST /v1/security-groups, POST …/rules), used by the repository and,
 * object by object, by topology-check.ts. Like validate.ts: every field at fault is reported, nothing is read
 * from the store here (the remote group's existence and overlapping rules are the repository's checks).
 */
import { intToIp } from '../net/addr.js';
import { parseRouteCidr } from './addr-rules.js';
import { invalid, Problems } from './errors.js';
import type { SgDirection, SgProtocol, SgRule } from './types.js';
import { asObject, checkName, type Obj } from './validate.js';

export const MAX_DESCRIPTION = 255;

export interface SecurityGroupInput {
  name: string;
  description: string;
}

export function parseSecurityGroupInput(body: unknown): SecurityGroupInput {
  const o = asObject(body);
  const p = new Problems();
  for (const k of Object.keys(o)) if (k !== 'name' && k !== 'description') p.add(invalid(k, `unknown field "${k}"`));
  const name = p.run(() => checkName(o.name));
  const description = p.run(() => {
    const d = o.description;
    if (d === undefined || d === null) return '';
    if (typeof d !== 'string') throw invalid('description', 'description must be a string');
    if (d.length > MAX_DESCRIPTION) throw invalid('description', `description is longer than ${MAX_DESCRIPTION} characters`);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(d)) throw invalid('description', 'description must not contain control characters');
    return d;
  });
  p.throwIfAny();
  return { name: name!, description: description! };
}

/** A rule as requested: the remote group by name or id (the repository resolves it). */
export type SgRuleInput = Omit<SgRule, 'id' | 'ruleKey' | 'remoteGroupId'> & { remoteGroup?: string };

const RULE_FIELDS = ['direction', 'protocol', 'portMin', 'portMax', 'icmpType', 'icmpCode', 'remoteCidr', 'remoteGroup'];
const NAMED: Record<number, SgProtocol> = { 1: 'icmp', 6: 'tcp', 17: 'udp' };

export function parseProtocol(v: unknown, field = 'protocol'): SgProtocol {
  if (v === undefined || v === null) return 'any';
  if (v === 'any' || v === 'tcp' || v === 'udp' || v === 'icmp') return v;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255) return NAMED[v] ?? v;
  throw invalid(field, `${field} must be tcp, udp, icmp, any or an IP protocol number 0..255 (got ${JSON.stringify(v)})`);
}

function optIntIn(o: Obj, k: string, min: number, max: number): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(k, `${k} must be an integer in ${min}..${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

/**
 * One rule. Ports only with tcp/udp (portMin alone is one port; portMax needs portMin); ICMP type/code only with
 * icmp (a code needs a type); a remote CIDR (host bits zero, stored normalised) or a remote group, not both.
 */
export function parseSgRuleInput(body: unknown): SgRuleInput {
  const o = asObject(body);
  const p = new Problems();
  for (const k of Object.keys(o)) if (!RULE_FIELDS.includes(k)) p.add(invalid(k, `unknown field "${k}"`));
  const direction = p.run((): SgDirection => {
    if (o.direction === 'ingress' || o.direction === 'egress') return o.direction;
    if (o.direction === undefined || o.direction === null) throw invalid('direction', 'direction is required: "ingress" or "egress"');
    throw invalid('direction', `direction must be "ingress" or "egress" (got ${JSON.stringify(o.direction)})`);
  });
  const protocol = p.run(() => parseProtocol(o.protocol));
  const ports = p.run(() => {
    const min = optIntIn(o, 'portMin', 1, 65535);
    const max = p.run(() => optIntIn(o, 'portMax', 1, 65535));
    if (min === undefined && max === undefined) return undefined;
    if (protocol !== undefined && protocol !== 'tcp' && protocol !== 'udp')
      throw invalid(min !== undefined ? 'portMin' : 'portMax', `ports need protocol tcp or udp (not ${String(protocol)})`);
    if (min === undefined) throw invalid('portMax', 'portMax needs portMin (give portMin alone for one port)');
    if (max !== undefined && max < min) throw invalid('portMax', `portMax ${max} is below portMin ${min}`);
    return { portMin: min, portMax: max ?? min };
  });
  const icmp = p.run(() => {
    const type = optIntIn(o, 'icmpType', 0, 255);
    const code = p.run(() => optIntIn(o, 'icmpCode', 0, 255));
    if (type === undefined && code === undefined) return undefined;
    if (protocol !== undefined && protocol !== 'icmp')
      throw invalid(type !== undefined ? 'icmpType' : 'icmpCode', `an ICMP type or code needs protocol icmp (not ${String(protocol)})`);
    if (type === undefined) throw invalid('icmpCode', 'icmpCode needs icmpType');
    return { icmpType: type, ...(code !== undefined ? { icmpCode: code } : {}) };
  });
  const remoteCidr = p.run(() => {
    if (o.remoteCidr === undefined || o.remoteCidr === null) return undefined;
    const c = parseRouteCidr(o.remoteCidr, 'remoteCidr');
    return `${intToIp(c.network)}/${c.prefix}`;
  });
  const remoteGroup = p.run(() => {
    const g = o.remoteGroup;
    if (g === undefined || g === null) return undefined;
    if (typeof g !== 'string' || g === '') throw invalid('remoteGroup', 'remoteGroup must be a security group name or id');
    if (o.remoteCidr !== undefined && o.remoteCidr !== null) throw invalid('remoteGroup', 'give remoteCidr or remoteGroup, not both');
    return g;
  });
  p.throwIfAny();
  return {
    direction: direction!,
    protocol: protocol!,
    ...(ports ?? {}),
    ...(icmp ?? {}),
    ...(remoteCidr !== undefined ? { remoteCidr } : {}),
    ...(remoteGroup !== undefined ? { remoteGroup } : {}),
  };
}

type RuleShape = Omit<SgRule, 'id' | 'ruleKey'>;

/**
 * Two rules admit overlapping traffic the same way: same direction, protocol, remote and ICMP type/code, and
 * port ranges that overlap (no range = every port). Such a second rule adds nothing but confusion.
 */
export function rulesOverlap(a: RuleShape, b: RuleShape): boolean {
  if (a.direction !== b.direction || a.protocol !== b.protocol) return false;
  if (a.remoteCidr !== b.remoteCidr || a.remoteGroupId !== b.remoteGroupId) return false;
  if (a.icmpType !== b.icmpType || a.icmpCode !== b.icmpCode) return false;
  const [aMin, aMax] = [a.portMin ?? 1, a.portMax ?? 65535];
  const [bMin, bMax] = [b.portMin ?? 1, b.portMax ?? 65535];
  return aMin <= bMax && bMin <= aMax;
}

/** "ingress tcp 80-81 from 10.0.0.0/8", for messages. */
export function describeRule(r: RuleShape, groupName?: (id: string) => string): string {
  const ports = r.portMin === undefined ? '' : r.portMin === r.portMax ? ` ${r.portMin}` : ` ${r.portMin}-${r.portMax}`;
  const icmp = r.icmpType === undefined ? '' : ` type ${r.icmpType}${r.icmpCode !== undefined ? `/${r.icmpCode}` : ''}`;
  const remote =
    r.remoteCidr ?? (r.remoteGroupId !== undefined ? `group ${groupName ? groupName(r.remoteGroupId) : r.remoteGroupId}` : 'anywhere');
  return `${r.direction} ${String(r.protocol)}${ports}${icmp} ${r.direction === 'ingress' ? 'from' : 'to'} ${remote}`;
}
