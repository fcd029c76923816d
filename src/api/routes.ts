/** The northbound resources, mapped onto the Topology repository. */
import { maskUrl } from '../store/url.js';
import { exportTopologyAt } from '../model/topology-io.js';
import type { Topology } from '../model/repo.js';
import { parseRouterPatch } from '../model/validate.js';
import { clearSiteGateway, getSite, listSites, networkTopologyStatus, setSiteGateway, updateNetworkTopology } from '../model/star-sites.js';
import type { ChassisStatus } from '../model/types.js';
import { throughOutage, writeDeadline } from '../model/cas.js';
import type { IfMatch } from '../model/precondition.js';
import { parseIfMatch, refuseIgnoredConditions, tagged } from './conditional.js';
import { ApiError, type ApiReply, type ApiRequest, type RouteHandler, type Router } from './http.js';

// One object's reply carries its revision as its ETag (conditional.ts); a list's carries none.
const ok = (body: unknown): ApiReply => tagged(200, body);
const created = (body: unknown): ApiReply => tagged(201, body);

function requireBody(req: ApiRequest): unknown {
  if (req.body === undefined) throw new ApiError(400, 'INVALID', 'request body (JSON) is required', 'body');
  return req.body;
}

function onlyQuery(req: ApiRequest, allowed: string[]): void {
  for (const k of req.query.keys()) {
    if (!allowed.includes(k)) throw new ApiError(400, 'INVALID', `unknown query parameter "${k}"`, k);
  }
}

/** A boolean query parameter: absent, true or false (anything else is refused, not read as false). */
function boolQuery(req: ApiRequest, name: string): boolean {
  const v = req.query.get(name);
  if (v === null || v === 'false') return false;
  if (v === '' || v === 'true') return true;
  throw new ApiError(400, 'INVALID', `query parameter "${name}" must be true or false, not ${JSON.stringify(v)}`, name);
}

/** Extra fields for a chassis as seen by the serving agent (e.g. reachable, reason); none when standalone. */
export type ChassisExtras = (c: ChassisStatus) => Record<string, unknown>;

export function addTopologyRoutes(r: Router, topo: Topology, version: string, chassisExtras?: ChassisExtras): void {
  const withExtras = (c: ChassisStatus) => (chassisExtras ? { ...c, ...chassisExtras(c) } : c);
  // A read rides the store failing to answer out as every write does (cas.ts WRITE_OUTAGE_MS from its arrival, then
  // 503): a member restarting or a leader election delays it instead of failing it. A read is whole when done again.
  const get = (pattern: string, handler: RouteHandler): void =>
    r.add('GET', pattern, (q) => throughOutage(async () => handler(q), writeDeadline()));
  /** A write to one existing object (or its sub-resources): If-Match names the revision it must be at (conditional.ts). */
  const change = (method: string, pattern: string, handler: (q: ApiRequest, ifMatch: IfMatch | undefined) => Promise<ApiReply>): void =>
    r.add(method, pattern, (q) => {
      refuseIgnoredConditions(q.headers, `${method} ${pattern}`, true);
      return handler(q, parseIfMatch(q.headers['if-match']));
    });
  /** Any other write (a creation, an import, a site's candidates, a chassis retired): it takes no condition. */
  const write = (method: string, pattern: string, handler: RouteHandler): void =>
    r.add(method, pattern, (q) => {
      refuseIgnoredConditions(q.headers, `${method} ${pattern}`, false);
      return handler(q);
    });
  get('/v1', async () => ok({ name: 'wyvern', version, store: maskUrl(topo.store.url), revision: await topo.store.currentRevision() }));

  get('/v1/networks', async () => ok(await topo.listNetworks()));
  write('POST', '/v1/networks', async (q) => created(await topo.createNetwork(requireBody(q))));
  get('/v1/networks/{network}', async (q) => ok(await topo.getNetwork(q.params.network!)));
  change('DELETE', '/v1/networks/{network}', async (q, c) => ok(await topo.deleteNetwork(q.params.network!, c)));
  // Issue 16: a live switch mesh ⇄ star (agents follow the record), the elected center, sites and their gateways.
  change('PATCH', '/v1/networks/{network}', async (q, c) =>
    ok(await updateNetworkTopology(topo.store, q.params.network!, requireBody(q), c)),
  );
  get('/v1/networks/{network}/topology', async (q) => ok(await networkTopologyStatus(topo.store, q.params.network!)));
  get('/v1/sites', async () => ok(await listSites(topo.store)));
  get('/v1/sites/{site}', async (q) => ok(await getSite(topo.store, q.params.site!)));
  write('PUT', '/v1/sites/{site}/gateway', async (q) => ok(await setSiteGateway(topo.store, q.params.site!, requireBody(q))));
  write('DELETE', '/v1/sites/{site}/gateway', async (q) => ok(await clearSiteGateway(topo.store, q.params.site!)));

  get('/v1/subnets', async (q) => {
    onlyQuery(q, ['network']);
    return ok(await topo.listSubnets(q.query.get('network') ?? undefined));
  });
  write('POST', '/v1/subnets', async (q) => created(await topo.createSubnet(requireBody(q))));
  get('/v1/subnets/{subnet}', async (q) => ok(await topo.getSubnet(q.params.subnet!)));
  change('DELETE', '/v1/subnets/{subnet}', async (q, c) => ok(await topo.deleteSubnet(q.params.subnet!, c)));

  get('/v1/ports', async (q) => {
    onlyQuery(q, ['network']);
    return ok(await topo.listPorts(q.query.get('network') ?? undefined));
  });
  write('POST', '/v1/ports', async (q) => created(await topo.createPort(requireBody(q))));
  get('/v1/ports/{port}', async (q) => ok(await topo.getPort(q.params.port!)));
  change('PATCH', '/v1/ports/{port}', async (q, c) => ok(await topo.updatePort(q.params.port!, requireBody(q), c)));
  change('DELETE', '/v1/ports/{port}', async (q, c) => ok(await topo.deletePort(q.params.port!, c)));

  get('/v1/routers', async () => ok(await topo.listRouters()));
  write('POST', '/v1/routers', async (q) => created(await topo.createRouter(requireBody(q))));
  get('/v1/routers/{router}', async (q) => ok(await topo.getRouter(q.params.router!)));
  change('PATCH', '/v1/routers/{router}', async (q, c) =>
    ok(await topo.setRouterMode(q.params.router!, parseRouterPatch(requireBody(q)).mode, c)),
  );
  change('DELETE', '/v1/routers/{router}', async (q, c) => ok(await topo.deleteRouter(q.params.router!, c)));
  change('POST', '/v1/routers/{router}/interfaces', async (q, c) => created(await topo.attachSubnet(q.params.router!, requireBody(q), c)));
  change('DELETE', '/v1/routers/{router}/interfaces/{subnet}', async (q, c) =>
    ok(await topo.detachSubnet(q.params.router!, q.params.subnet!, c)),
  );
  change('POST', '/v1/routers/{router}/routes', async (q, c) => created(await topo.addRoute(q.params.router!, requireBody(q), c)));
  change('DELETE', '/v1/routers/{router}/routes/{cidr}', async (q, c) => ok(await topo.removeRoute(q.params.router!, q.params.cidr!, c)));

  change('PUT', '/v1/routers/{router}/gateway', async (q, c) => ok(await topo.setGateway(q.params.router!, requireBody(q), c)));
  get('/v1/routers/{router}/gateway', async (q) => ok(await topo.getGateway(q.params.router!)));
  change('DELETE', '/v1/routers/{router}/gateway', async (q, c) => ok(await topo.clearGateway(q.params.router!, c)));

  get('/v1/floating-ips', async () => ok(await topo.listFloatingIps()));
  write('POST', '/v1/floating-ips', async (q) => created(await topo.createFloatingIp(requireBody(q))));
  get('/v1/floating-ips/{fip}', async (q) => ok(await topo.getFloatingIp(q.params.fip!)));
  change('PATCH', '/v1/floating-ips/{fip}', async (q, c) => ok(await topo.updateFloatingIp(q.params.fip!, requireBody(q), c)));
  change('DELETE', '/v1/floating-ips/{fip}', async (q, c) => ok(await topo.deleteFloatingIp(q.params.fip!, c)));

  get('/v1/security-groups', async () => ok(await topo.listSecurityGroups()));
  write('POST', '/v1/security-groups', async (q) => created(await topo.createSecurityGroup(requireBody(q))));
  get('/v1/security-groups/{group}', async (q) => ok(await topo.getSecurityGroup(q.params.group!)));
  change('DELETE', '/v1/security-groups/{group}', async (q, c) => {
    onlyQuery(q, ['force']);
    return ok(await topo.deleteSecurityGroup(q.params.group!, { force: boolQuery(q, 'force') }, c));
  });
  get('/v1/security-groups/{group}/rules', async (q) => ok(await topo.listSgRules(q.params.group!)));
  change('POST', '/v1/security-groups/{group}/rules', async (q, c) => created(await topo.addSgRule(q.params.group!, requireBody(q), c)));
  change('DELETE', '/v1/security-groups/{group}/rules/{rule}', async (q, c) =>
    ok(await topo.deleteSgRule(q.params.group!, q.params.rule!, c)),
  );

  get('/v1/chassis', async () => ok((await topo.listChassis()).map(withExtras)));
  get('/v1/chassis/{chassis}', async (q) => ok(withExtras(await topo.getChassis(q.params.chassis!))));
  write('DELETE', '/v1/chassis/{chassis}', async (q) => {
    onlyQuery(q, ['force']);
    return ok(await topo.deleteChassis(q.params.chassis!, { force: boolQuery(q, 'force') }));
  });

  get('/v1/topology', async () => {
    const { doc, revision } = await exportTopologyAt(topo.store);
    return { status: 200, body: doc, headers: { 'x-wyvern-revision': String(revision) } };
  });
  write('PUT', '/v1/topology', async (q) => ok(await topo.importTopology(requireBody(q))));
}
