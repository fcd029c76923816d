/** `wyvern sg …`: security groups and their rules over the API. */
import type { ApiClient } from '../api/client.js';
import type { SecurityGroup, SgRule } from '../model/types.js';
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

const HELP = `usage:
  wyvern sg create NAME [--description D]      (a new group allows all egress and admits no ingress)
  wyvern sg list
  wyvern sg show NAME
  wyvern sg delete NAME [--force]              (refused while ports are in it or other groups' rules name it;
                                                --force removes it from those ports and deletes those rules)
  wyvern sg rule add GROUP --direction ingress|egress [--proto tcp|udp|icmp|N|any] [--port P[-Q]]
                     [--icmp-type T[/CODE]] [--remote-cidr CIDR | --remote-group G]
      (rules allow; direction is from the port: ingress = to it, egress = from it; no remote = anywhere;
       --remote-group: the addresses of that group's ports)
  wyvern sg rule list GROUP
  wyvern sg rule delete GROUP RULE_ID`;

const RULE_ADD_USAGE =
  'wyvern sg rule add GROUP --direction ingress|egress [--proto P] [--port P[-Q]] [--icmp-type T[/CODE]] [--remote-cidr CIDR | --remote-group G]';

/** `--proto`: a name as is, a number as a number (the API maps 6/17/1 to names). */
export function protoFlag(v: string): string | number {
  return /^\d+$/.test(v) ? Number(v) : v.toLowerCase();
}

/** `--port 80` or `--port 8000-8100`. */
export function portFlag(v: string): { portMin: number; portMax: number } {
  const m = /^(\d+)(?:-(\d+))?$/.exec(v);
  if (!m) throw new UsageError(`--port needs P or P-Q (got ${JSON.stringify(v)})`);
  return { portMin: Number(m[1]), portMax: Number(m[2] ?? m[1]) };
}

/** `--icmp-type 8` or `8/0`. */
export function icmpFlag(v: string): { icmpType: number; icmpCode?: number } {
  const m = /^(\d+)(?:\/(\d+))?$/.exec(v);
  if (!m) throw new UsageError(`--icmp-type needs TYPE or TYPE/CODE (got ${JSON.stringify(v)})`);
  return { icmpType: Number(m[1]), ...(m[2] !== undefined ? { icmpCode: Number(m[2]) } : {}) };
}

export function ruleBody(p: Parsed): Record<string, unknown> {
  const v = p.values as Record<string, string | undefined>;
  if (v.direction === undefined) throw new UsageError(`--direction is required\nusage: ${RULE_ADD_USAGE}`);
  if (v['remote-cidr'] !== undefined && v['remote-group'] !== undefined)
    throw new UsageError(`--remote-cidr and --remote-group exclude each other\nusage: ${RULE_ADD_USAGE}`);
  return {
    direction: v.direction,
    ...(v.proto !== undefined ? { protocol: protoFlag(v.proto) } : {}),
    ...(v.port !== undefined ? portFlag(v.port) : {}),
    ...(v['icmp-type'] !== undefined ? icmpFlag(v['icmp-type']) : {}),
    ...(v['remote-cidr'] !== undefined ? { remoteCidr: v['remote-cidr'] } : {}),
    ...(v['remote-group'] !== undefined ? { remoteGroup: v['remote-group'] } : {}),
  };
}

function ruleRow(r: SgRule, names: Map<string, string>): string[] {
  const ports = r.portMin === undefined ? '' : r.portMin === r.portMax ? String(r.portMin) : `${r.portMin}-${r.portMax}`;
  const icmp = r.icmpType === undefined ? '' : `type ${r.icmpType}${r.icmpCode !== undefined ? `/${r.icmpCode}` : ''}`;
  const remote = r.remoteCidr ?? (r.remoteGroupId !== undefined ? `group ${names.get(r.remoteGroupId) ?? r.remoteGroupId}` : 'any');
  return [r.id, r.direction, String(r.protocol), ports || icmp || '-', remote, String(r.ruleKey)];
}

async function groupNames(c: ApiClient): Promise<Map<string, string>> {
  return new Map((await c.call<SecurityGroup[]>('GET', '/v1/security-groups')).map((g) => [g.id, g.name]));
}

const rulesTable = (rules: SgRule[], names: Map<string, string>): string =>
  table(
    ['ID', 'DIRECTION', 'PROTO', 'PORTS/ICMP', 'REMOTE', 'KEY'],
    rules.map((r) => ruleRow(r, names)),
  );

export const sgCommand: Command = (argv) =>
  run(HELP, argv, async () => {
    const v = argv[0];
    const verbs = ['create', 'list', 'show', 'delete', 'rule'];
    if (v === undefined || !verbs.includes(v))
      throw new UsageError(`${v === undefined ? 'missing command' : `unknown command "${v}"`}\n${HELP}`);
    if (v === 'rule') return ruleCommand(argv.slice(1));
    const p = parse(
      argv.slice(1),
      v === 'create' ? { description: { type: 'string' } } : v === 'delete' ? { force: { type: 'boolean' } } : {},
      v === 'delete',
    );
    const c = client(p);
    switch (v) {
      case 'create': {
        const [name] = positionals(p, ['NAME'], 'wyvern sg create NAME [--description D]');
        const body = { name, ...(p.values.description !== undefined ? { description: p.values.description } : {}) };
        const g = await c.call<SecurityGroup>('POST', '/v1/security-groups', body);
        if (p.values.json) return printJson(g);
        return out(`created security group ${g.name}\n${summary(g)}\n\n${rulesTable(g.rules, new Map([[g.id, g.name]]))}`);
      }
      case 'list': {
        positionals(p, [], 'wyvern sg list');
        const gs = await c.call<SecurityGroup[]>('GET', '/v1/security-groups');
        if (p.values.json) return printJson(gs);
        return out(
          table(
            ['NAME', 'ID', 'RULES', 'DESCRIPTION'],
            gs.map((g) => [g.name, g.id, String(g.rules.length), g.description || '-']),
          ),
        );
      }
      case 'show': {
        const [name] = positionals(p, ['NAME'], 'wyvern sg show NAME');
        const { body: g, revision } = await c.callTagged<SecurityGroup>('GET', `/v1/security-groups/${enc(name!)}`);
        if (p.values.json) return printJson(g);
        return out(`${summary(g, revision)}\n\n${rulesTable(g.rules, await groupNames(c))}`);
      }
      default: {
        const [name] = positionals(p, ['NAME'], 'wyvern sg delete NAME [--force]');
        const g = await c.call<SecurityGroup & { portsDetached: string[]; rulesRemoved: { group: string; ruleId: string }[] }>(
          'DELETE',
          `/v1/security-groups/${enc(name!)}${p.values.force ? '?force=true' : ''}`,
        );
        if (p.values.json) return printJson(g);
        const also: string[] = [];
        if (g.portsDetached.length) also.push(`removed from ports: ${g.portsDetached.join(', ')}`);
        if (g.rulesRemoved.length) also.push(`rules removed: ${g.rulesRemoved.map((r) => `${r.group}/${r.ruleId}`).join(', ')}`);
        return out(`deleted security group ${g.name} (${g.id})${also.length ? `\n${also.join('\n')}` : ''}`);
      }
    }
  });

function summary(g: SecurityGroup, revision?: number): string {
  return details(withRevisionLine({ name: g.name, id: g.id, description: g.description || undefined, groupKey: g.groupKey }, revision));
}

async function ruleCommand(argv: string[]): Promise<void> {
  const v = argv[0];
  if (v !== 'add' && v !== 'list' && v !== 'delete') throw new UsageError(`sg rule needs add, list or delete\n${HELP}`);
  const p = parse(
    argv.slice(1),
    v === 'add'
      ? {
          direction: { type: 'string' },
          proto: { type: 'string' },
          port: { type: 'string' },
          'icmp-type': { type: 'string' },
          'remote-cidr': { type: 'string' },
          'remote-group': { type: 'string' },
        }
      : {},
    v !== 'list',
  );
  const c = client(p);
  if (v === 'add') {
    const [group] = positionals(p, ['GROUP'], RULE_ADD_USAGE);
    const r = await c.call<SgRule>('POST', `/v1/security-groups/${enc(group!)}/rules`, ruleBody(p));
    if (p.values.json) return printJson(r);
    return out(`added rule ${r.id} to security group ${group}\n${rulesTable([r], await groupNames(c))}`);
  }
  if (v === 'list') {
    const [group] = positionals(p, ['GROUP'], 'wyvern sg rule list GROUP');
    const rules = await c.call<SgRule[]>('GET', `/v1/security-groups/${enc(group!)}/rules`);
    if (p.values.json) return printJson(rules);
    return out(rulesTable(rules, await groupNames(c)));
  }
  const [group, id] = positionals(p, ['GROUP', 'RULE_ID'], 'wyvern sg rule delete GROUP RULE_ID');
  const r = await c.call<SgRule>('DELETE', `/v1/security-groups/${enc(group!)}/rules/${enc(id!)}`);
  if (p.values.json) return printJson(r);
  return out(`deleted rule ${r.id} from security group ${group}`);
}
