/** `wyvern site list|show|gateway set|gateway clear` over the API (issue 16). */
import type { SiteStatus } from '../model/star-sites.js';
import { client, details, enc, out, parse, positionals, printJson, run, table, UsageError, type Command } from './common.js';

const HELP = `usage:
  wyvern site list                                   sites (from chassis registrations and gateway settings)
  wyvern site show SITE                              its chassis, gateway candidates and the elected gateway
  wyvern site gateway set SITE --chassis HV[,HV]...  gateway candidates in preference order (traffic between
                                                     sites goes only through each site's elected gateway)
  wyvern site gateway clear SITE                     no candidates: the site is cut off from other sites
A chassis joins a site through its agent's setting (wyvern agent --site NAME, WYVERN_SITE; default "default").`;

const gatewayOf = (s: SiteStatus): string => (s.gateway ? `${s.gateway.chassis} (since ${s.gateway.since})` : `none: ${s.problem ?? ''}`);

function siteText(s: SiteStatus): string {
  return details({ site: s.name, chassis: s.chassis, gatewayCandidates: s.gatewayCandidates, gateway: gatewayOf(s) });
}

export const siteCommand: Command = (argv) =>
  run(HELP, argv, async () => {
    const v = argv[0];
    if (v === 'gateway') {
      const w = argv[1];
      if (w !== 'set' && w !== 'clear') throw new UsageError(`site gateway needs set or clear\n${HELP}`);
      const p = parse(argv.slice(2), w === 'set' ? { chassis: { type: 'string' } } : {});
      const c = client(p);
      if (w === 'set') {
        const usage = 'wyvern site gateway set SITE --chassis HV[,HV]...';
        const [site] = positionals(p, ['SITE'], usage);
        if (p.values.chassis === undefined) throw new UsageError(`--chassis is required\nusage: ${usage}`);
        const names = String(p.values.chassis).split(',');
        if (names.some((n) => n === '')) throw new UsageError(`--chassis needs HV[,HV]... (got ${JSON.stringify(p.values.chassis)})`);
        const s = await c.call<SiteStatus>('PUT', `/v1/sites/${enc(site!)}/gateway`, { chassis: names });
        return p.values.json ? printJson(s) : out(`set gateway candidates of site ${s.name}\n${siteText(s)}`);
      }
      const [site] = positionals(p, ['SITE'], 'wyvern site gateway clear SITE');
      const r = await c.call<{ name: string; cleared: boolean }>('DELETE', `/v1/sites/${enc(site!)}/gateway`);
      return p.values.json
        ? printJson(r)
        : out(r.cleared ? `cleared gateway candidates of site ${r.name}` : `site ${r.name} had no gateway candidates`);
    }
    if (v !== 'list' && v !== 'show') throw new UsageError(`${v === undefined ? 'missing command' : `unknown command "${v}"`}\n${HELP}`);
    const p = parse(argv.slice(1));
    const c = client(p);
    if (v === 'show') {
      const [site] = positionals(p, ['SITE'], 'wyvern site show SITE');
      const s = await c.call<SiteStatus>('GET', `/v1/sites/${enc(site!)}`);
      return p.values.json ? printJson(s) : out(siteText(s));
    }
    positionals(p, [], 'wyvern site list');
    const sites = await c.call<SiteStatus[]>('GET', '/v1/sites');
    if (p.values.json) return printJson(sites);
    out(
      table(
        ['SITE', 'CHASSIS', 'CANDIDATES', 'GATEWAY'],
        sites.map((s) => [
          s.name,
          s.chassis.join(',') || '-',
          s.gatewayCandidates.join(',') || '-',
          s.gateway?.chassis ?? `none (${s.problem ?? ''})`,
        ]),
      ),
    );
  });
