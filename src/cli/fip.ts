/** `wyvern fip …`: floating IPs over the API (issue 14). */
import type { ApiClient } from '../api/client.js';
import type { FloatingIp, Network, Port, Router } from '../model/types.js';
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

const CREATE_USAGE = 'wyvern fip create --network NET [--ip IP] [--port PORT [--fixed-ip IP]]';

const HELP = `usage:
  ${CREATE_USAGE}
      (NET: a provider network; the address is allocated when --ip is not given. --port needs a router path: a
       router whose gateway is on NET with an interface on the subnet of the port's fixed IP, default its first)
  wyvern fip list
  wyvern fip show FIP                    (FIP: its id, or its address)
  wyvern fip update FIP --port PORT [--fixed-ip IP] | --no-port
  wyvern fip delete FIP`;

/** Names for the ids a FIP refers to (network, port, router), for tables and details. */
async function names(c: ApiClient): Promise<(id: string | undefined) => string> {
  const [nets, ports, routers] = await Promise.all([
    c.call<Network[]>('GET', '/v1/networks'),
    c.call<Port[]>('GET', '/v1/ports'),
    c.call<Router[]>('GET', '/v1/routers'),
  ]);
  const m = new Map<string, string>([...nets, ...ports, ...routers].map((x) => [x.id, x.name]));
  return (id) => (id === undefined ? '-' : (m.get(id) ?? id));
}

async function showFip(c: ApiClient, f: FloatingIp, revision: number | undefined, msg?: string): Promise<void> {
  const name = await names(c);
  const text = details(
    withRevisionLine(
      {
        id: f.id,
        ip: f.ip,
        mac: f.mac,
        network: name(f.networkId),
        port: name(f.portId),
        fixedIp: f.fixedIp ?? '-',
        router: name(f.routerId),
      },
      revision,
    ),
  );
  out(msg ? `${msg}\n${text}` : text);
}

export const fipCommand: Command = (argv) =>
  run(HELP, argv, async () => {
    const v = argv[0];
    const verbs = ['create', 'list', 'show', 'update', 'delete'];
    if (v === undefined || !verbs.includes(v)) throw new UsageError(v === undefined ? 'missing command' : `unknown command "${v}"`);
    const assoc = { port: { type: 'string' }, 'fixed-ip': { type: 'string' } } as const;
    const p = parse(
      argv.slice(1),
      v === 'create'
        ? { network: { type: 'string' }, ip: { type: 'string' }, ...assoc }
        : v === 'update'
          ? { ...assoc, 'no-port': { type: 'boolean' } }
          : {},
      v === 'update' || v === 'delete',
    );
    const c = client(p);
    const port = p.values.port as string | undefined;
    const fixedIp = p.values['fixed-ip'] as string | undefined;
    if (fixedIp !== undefined && port === undefined) throw new UsageError('--fixed-ip needs --port');
    switch (v) {
      case 'create': {
        positionals(p, [], CREATE_USAGE);
        if (p.values.network === undefined) throw new UsageError(`--network is required\nusage: ${CREATE_USAGE}`);
        const body: Record<string, unknown> = { network: p.values.network };
        if (p.values.ip !== undefined) body.ip = p.values.ip;
        if (port !== undefined) body.port = port;
        if (fixedIp !== undefined) body.fixedIp = fixedIp;
        const { body: f, revision } = await c.callTagged<FloatingIp>('POST', '/v1/floating-ips', body);
        return p.values.json ? printJson(f) : showFip(c, f, revision, `created floating IP ${f.ip}`);
      }
      case 'list': {
        positionals(p, [], 'wyvern fip list');
        const fs = await c.call<FloatingIp[]>('GET', '/v1/floating-ips');
        if (p.values.json) return printJson(fs);
        const name = await names(c);
        return out(
          table(
            ['IP', 'NETWORK', 'PORT', 'FIXED-IP', 'ROUTER', 'ID'],
            fs.map((f) => [f.ip, name(f.networkId), name(f.portId), f.fixedIp ?? '-', name(f.routerId), f.id]),
          ),
        );
      }
      case 'show': {
        const [ref] = positionals(p, ['FIP'], 'wyvern fip show FIP');
        const { body: f, revision } = await c.callTagged<FloatingIp>('GET', `/v1/floating-ips/${enc(ref!)}`);
        return p.values.json ? printJson(f) : showFip(c, f, revision);
      }
      case 'update': {
        const usage = 'wyvern fip update FIP --port PORT [--fixed-ip IP] | --no-port';
        const [ref] = positionals(p, ['FIP'], usage);
        if ((port === undefined) === !p.values['no-port']) throw new UsageError(`give --port PORT or --no-port\nusage: ${usage}`);
        const body = port === undefined ? { port: null } : { port, ...(fixedIp !== undefined ? { fixedIp } : {}) };
        const { body: f, revision } = await c.callTagged<FloatingIp>('PATCH', `/v1/floating-ips/${enc(ref!)}`, body);
        return p.values.json ? printJson(f) : showFip(c, f, revision, `updated floating IP ${f.ip}`);
      }
      default: {
        const [ref] = positionals(p, ['FIP'], 'wyvern fip delete FIP');
        const f = await c.call<FloatingIp>('DELETE', `/v1/floating-ips/${enc(ref!)}`);
        return p.values.json ? printJson(f) : out(`deleted floating IP ${f.ip} (${f.id})`);
      }
    }
  });
