/**
 * The `site` part of `wyvern agent status` (issue 16): this chassis's site, its gateway and whether traffic can leave
 * it, as the view shows them.
 */
import { DEFAULT_SITE } from '../model/types.js';
import type { TopologyView } from '../view/topology-view.js';

/**
 * A site without a Site record (no candidates) or without a live gateway cannot reach other sites, and says so here
 * rather than dropping silently. `active`: this chassis holds its site's gateway; `relaying`: it relays for it now.
 */
export function siteStatus(view: TopologyView, active: boolean, relaying: boolean): Record<string, unknown> {
  const name = view.site;
  const site = view.sites.get(name);
  const gw = view.siteGateways.get(name);
  // Sites with a Site record, and those of the chassis this one knows (lazy sync: the ones its view names).
  const others = new Set([...view.sites.keys(), ...[...view.chassis.values()].map((c) => c.site ?? DEFAULT_SITE)]);
  others.delete(name);
  let interSite: string;
  if (!site) interSite = `impossible: site ${name} has no gateway candidates (wyvern site gateway set ${name} --chassis …)`;
  else if (!gw) interSite = `impossible: no live gateway of site ${name} (candidates ${site.gatewayCandidates.join(', ')})`;
  else interSite = `through ${gw.chassis}`;
  return {
    name,
    gatewayCandidates: site?.gatewayCandidates ?? [],
    gateway: gw?.chassis ?? null,
    active,
    otherSites: [...others].sort(),
    interSite,
    relaying,
  };
}
