/** `wyvern router …` over the API. */
import type { Router } from '../model/types.js';
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
} from './common.js';
import { gatewayCommand } from './gateway.js';

const HELP = `usage:
  wyvern router create NAME [--mode proactive|reactive]
  wyvern router list
  wyvern router show NAME
  wyvern router delete NAME
  wyvern router attach ROUTER SUBNET [--ip IP]     (interface IP defaults to the subnet's gateway)
  wyvern router detach ROUTER SUBNET
  wyvern router route add ROUTER CIDR NEXTHOP
  wyvern router route delete ROUTER CIDR
  wyvern router mode ROUTER proactive|reactive
  wyvern router gateway set ROUTER --network NET [--ip IP] [--chassis NAME[,NAME]...]
      (NET: a provider network; --chassis in priority order, default every live chassis reaching its physnet)
  wyvern router gateway show ROUTER      (the active gateway chassis and the standbys)
  wyvern router gateway clear ROUTER`;

function summary(r: Router): Record<string, unknown> {
  return {
    ...r,
    interfaces: r.interfaces.map((i) => `${i.ip} ${i.mac} subnet=${i.subnetId}`),
    routes: r.routes.map((x) => `${x.cidr} via ${x.nexthop}`),
    ...(r.gateway
      ? { gateway: `${r.gateway.ip} ${r.gateway.mac} network=${r.gateway.networkId} chassis=${r.gateway.chassis.join(',')}` }
      : {}),
  };
}

export const routerCommand: Command = (argv) =>
  run(HELP, argv, async () => {
    const v = argv[0];
    const verbs = ['create', 'list', 'show', 'delete', 'attach', 'detach', 'route', 'mode', 'gateway'];
    if (v === undefined || !verbs.includes(v))
      throw new UsageError(`${v === undefined ? 'missing command' : `unknown command "${v}"`}\n${HELP}`);
    let rest = argv.slice(1);
    if (v === 'gateway') return gatewayCommand(rest);
    let sub: string | undefined;
    if (v === 'route') {
      sub = rest[0];
      if (sub !== 'add' && sub !== 'delete' && sub !== 'del') throw new UsageError(`router route needs add or delete\n${HELP}`);
      rest = rest.slice(1);
    }
    const p = parse(
      rest,
      v === 'create' ? { mode: { type: 'string' } } : v === 'attach' ? { ip: { type: 'string' } } : {},
      v !== 'create' && v !== 'list' && v !== 'show',
    );
    const c = client(p);
    const show = (r: Router, msg: string, revision?: number): void => {
      if (p.values.json) printJson(r);
      else out(`${msg}\n${details(withRevisionLine(summary(r), revision))}`);
    };
    /** A write or read of one router, shown with the revision it answered (what --if-match takes). */
    const answer = async (method: string, path: string, body: unknown, msg: (r: Router) => string): Promise<void> => {
      const { body: r, revision } = await c.callTagged<Router>(method, path, body);
      show(r, msg(r), revision);
    };
    switch (v) {
      case 'create': {
        const [name] = positionals(p, ['NAME'], 'wyvern router create NAME [--mode proactive|reactive]');
        const body = { name, ...(p.values.mode !== undefined ? { mode: p.values.mode } : {}) };
        return answer('POST', '/v1/routers', body, (r) => `created router ${r.name}`);
      }
      case 'list': {
        positionals(p, [], 'wyvern router list');
        const rs = await c.call<Router[]>('GET', '/v1/routers');
        if (p.values.json) return printJson(rs);
        return out(
          table(
            ['NAME', 'MODE', 'INTERFACES', 'ROUTES', 'GATEWAY', 'ID'],
            rs.map((r) => [
              r.name,
              r.mode,
              r.interfaces.map((i) => i.ip).join(',') || '-',
              r.routes.map((x) => `${x.cidr}>${x.nexthop}`).join(',') || '-',
              r.gateway?.ip ?? '-',
              r.id,
            ]),
          ),
        );
      }
      case 'show': {
        const [name] = positionals(p, ['NAME'], 'wyvern router show NAME');
        return answer('GET', `/v1/routers/${enc(name!)}`, undefined, () => `router ${name}`);
      }
      case 'delete': {
        const [name] = positionals(p, ['NAME'], 'wyvern router delete NAME');
        const r = await c.call<Router>('DELETE', `/v1/routers/${enc(name!)}`);
        return p.values.json ? printJson(r) : out(`deleted router ${r.name} (${r.id})`);
      }
      case 'attach': {
        const [router, subnet] = positionals(p, ['ROUTER', 'SUBNET'], 'wyvern router attach ROUTER SUBNET [--ip IP]');
        const body = { subnet, ...(p.values.ip !== undefined ? { ip: p.values.ip } : {}) };
        return answer('POST', `/v1/routers/${enc(router!)}/interfaces`, body, (r) => `attached subnet ${subnet} to router ${r.name}`);
      }
      case 'detach': {
        const [router, subnet] = positionals(p, ['ROUTER', 'SUBNET'], 'wyvern router detach ROUTER SUBNET');
        return answer(
          'DELETE',
          `/v1/routers/${enc(router!)}/interfaces/${enc(subnet!)}`,
          undefined,
          (r) => `detached subnet ${subnet} from router ${r.name}`,
        );
      }
      case 'mode': {
        const [router, mode] = positionals(p, ['ROUTER', 'MODE'], 'wyvern router mode ROUTER proactive|reactive');
        return answer('PATCH', `/v1/routers/${enc(router!)}`, { mode }, (r) => `router ${r.name} is ${r.mode}`);
      }
      default: {
        if (sub === 'add') {
          const [router, cidr, nexthop] = positionals(p, ['ROUTER', 'CIDR', 'NEXTHOP'], 'wyvern router route add ROUTER CIDR NEXTHOP');
          return answer(
            'POST',
            `/v1/routers/${enc(router!)}/routes`,
            { cidr, nexthop },
            (r) => `added route ${cidr} via ${nexthop} to router ${r.name}`,
          );
        }
        const [router, cidr] = positionals(p, ['ROUTER', 'CIDR'], 'wyvern router route delete ROUTER CIDR');
        return answer(
          'DELETE',
          `/v1/routers/${enc(router!)}/routes/${enc(cidr!)}`,
          undefined,
          (r) => `removed route ${cidr} from router ${r.name}`,
        );
      }
    }
  });
