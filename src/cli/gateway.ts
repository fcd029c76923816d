/** `wyvern router gateway set|show|clear …` over the API (issue 14). */
import type { ApiClient } from '../api/client.js';
import type { GatewayStatus } from '../model/gateways.js';
import type { Router } from '../model/types.js';
import { client, details, enc, out, parse, positionals, printJson, UsageError, withRevisionLine } from './common.js';

const SET_USAGE = 'wyvern router gateway set ROUTER --network NET [--ip IP] [--chassis NAME[,NAME]...]';

/** The gateway status as text: configuration, then the active chassis and the standbys. */
export function gatewayText(s: GatewayStatus, revision?: number): string {
  return details(
    withRevisionLine(
      {
        router: s.router,
        network: s.network,
        ip: s.ip,
        mac: s.mac,
        chassis: s.chassis.join(', '),
        active: s.active === null ? 'none (no live candidate)' : `${s.active}${s.activeSince ? ` (since ${s.activeSince})` : ''}`,
        standbys: s.standbys.map((c) => `${c.name} (${c.alive ? 'alive' : 'down'})`),
      },
      revision,
    ),
  );
}

/** The router's gateway as text, with the router's revision (its record holds the gateway: what --if-match takes). */
async function gatewayNow(c: ApiClient, router: string): Promise<string> {
  const { body, revision } = await c.callTagged<GatewayStatus>('GET', `/v1/routers/${enc(router)}/gateway`);
  return gatewayText(body, revision);
}

export async function gatewayCommand(argv: string[]): Promise<void> {
  const verb = argv[0];
  if (verb !== 'set' && verb !== 'show' && verb !== 'clear') throw new UsageError('router gateway needs set, show or clear');
  const p = parse(
    argv.slice(1),
    verb === 'set' ? { network: { type: 'string' }, ip: { type: 'string' }, chassis: { type: 'string' } } : {},
    verb !== 'show',
  );
  const c = client(p);
  if (verb === 'set') {
    const [router] = positionals(p, ['ROUTER'], SET_USAGE);
    if (p.values.network === undefined) throw new UsageError(`--network is required\nusage: ${SET_USAGE}`);
    const body: Record<string, unknown> = { network: p.values.network };
    if (p.values.ip !== undefined) body.ip = p.values.ip;
    if (p.values.chassis !== undefined) {
      const names = (p.values.chassis as string).split(',');
      if (names.some((n) => n === '')) throw new UsageError(`--chassis needs NAME[,NAME]... (got ${JSON.stringify(p.values.chassis)})`);
      body.chassis = names;
    }
    const r = await c.call<Router>('PUT', `/v1/routers/${enc(router!)}/gateway`, body);
    if (p.values.json) return printJson(r);
    return out(`set gateway of router ${r.name}\n${await gatewayNow(c, router!)}`);
  }
  if (verb === 'show') {
    const [router] = positionals(p, ['ROUTER'], 'wyvern router gateway show ROUTER');
    if (p.values.json) return printJson(await c.call<GatewayStatus>('GET', `/v1/routers/${enc(router!)}/gateway`));
    return out(await gatewayNow(c, router!));
  }
  const [router] = positionals(p, ['ROUTER'], 'wyvern router gateway clear ROUTER');
  const r = await c.call<Router>('DELETE', `/v1/routers/${enc(router!)}/gateway`);
  return p.values.json ? printJson(r) : out(`cleared gateway of router ${r.name}`);
}
