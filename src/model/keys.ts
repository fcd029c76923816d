/**
 * The store key layout (decided in issue 4). Network-scoped objects live under their network's
 * prefix so an agent's lazy sync watches exactly one prefix per network:
 *
 *   /wyvern/v1/networks/<networkId>                 Network JSON
 *   /wyvern/v1/net/<networkId>/subnets/<subnetId>   Subnet JSON
 *   /wyvern/v1/net/<networkId>/ports/<portId>       Port JSON
 *   /wyvern/v1/net/<networkId>/bindings/<portId>    Binding JSON (written by agents)
 *   /wyvern/v1/routers/<routerId>                   Router JSON
 *   /wyvern/v1/net/<networkId>/routers/<routerId>   router index (issue 17): the router has an interface or its gateway
 *                                                   on the network; written with the router. A lazy agent learns
 *                                                   the routers of the networks it watches from these and watches
 *                                                   each one's key and gateway lease alone (no agent watches them all)
 *   /wyvern/v1/net/<networkId>/fips/<fipId>         floating IP index: the FIP is associated with a port of the
 *                                                   network (where it is NATed); written with the FIP
 *   /wyvern/v1/gateway-of/<chassis>/<routerId>      the chassis is a gateway candidate of the router: each agent
 *                                                   watches its own, to take part in elections of routers it has
 *                                                   no port behind
 *   /wyvern/v1/layout/lazy-index                    the index above was written for every router and FIP made
 *                                                   before it existed (model/lazy-index.ts); from then on the API's
 *                                                   writers read a network's routers and FIPs through it
 *   /wyvern/v1/fips-on/<networkId>/<fipId>          floating IP index for the API: the FIP's address is on the
 *                                                   (provider) network; outside every watched prefix
 *   /wyvern/v1/chassis/<name>                       Chassis JSON, attached to the agent's lease
 *   /wyvern/v1/names/<kind>/<name>                  {"id","networkId"?}: unique names per kind
 *   /wyvern/v1/names/port/<portId>                  the same claim under the port's id (issue 15): names never look
 *                                                   like UUIDs, so the two never collide, and a VIF whose iface-id is
 *                                                   the port's id (libvirt's interfaceid, XAPI's VIF uuid) waits on
 *                                                   and resolves through this key exactly as one carrying the name
 *   /wyvern/v1/alloc/<pool>/<n>                     integer key allocations → owner "<kind>/<id>"
 *   /wyvern/v1/sg/<groupId>                         SecurityGroup JSON (its rules inside: one watch per group)
 *   /wyvern/v1/sg-members/<groupId>/<portId>        SgMember JSON: the address set of a group, written with the
 *                                                   port; watched only by agents enforcing a rule naming the group
 *
 *   /wyvern/v1/fips/<fipId>                         FloatingIp JSON (issue 14; a lazy agent watches those indexed
 *                                                   under its networks)
 *   /wyvern/v1/gateways/<routerId>                  GatewayLease JSON: the router's active gateway chassis, attached
 *                                                   to that agent's lease; watched with the router
 *   /wyvern/v1/segments/<physnet>/<vlan|flat>       {"networkId"}: one provider network per physical segment
 *   /wyvern/v1/centers/<networkId>                  CenterLease JSON: a star network's active center (issue 16),
 *                                                   attached to that agent's lease; watched by every agent (few)
 *   /wyvern/v1/sites/<site>                         Site JSON: a site's gateway candidates (operator); watched by all
 *   /wyvern/v1/site-gateways/<site>                 SiteGatewayLease JSON: a site's active gateway, attached to its
 *                                                   agent's lease; watched by every agent
 *
 * Additions (outside every watched prefix, so agents never see them in their watches):
 *   /wyvern/v1/guard/<networkId>                    the network's STRUCTURE guard: bumped by every change to its
 *                                                   subnets and router interfaces (and by writers of older versions:
 *                                                   on port changes before issue 17, floating IP changes before the
 *                                                   eighteenth session, gateway changes before the nineteenth);
 *                                                   every writer in the network compares its modRevision.
 *                                                   Ports, floating IPs and gateways compare it but do not bump it
 *                                                   (they claim their addresses, below), so they never conflict
 *                                                   with one another on it.
 *   /wyvern/v1/guard/<networkId>/ports              put (blind) by every claim and release of an address below (a
 *                                                   port's, a floating IP's, a gateway's); compared by the writers
 *                                                   that must see every holder (network delete, router interface
 *                                                   attach, which takes an address without a claim).
 *   /wyvern/v1/guard/<networkId>/subnet/<subnetId>  put (blind) by every port create taking an address in the
 *                                                   subnet; compared by the subnet's delete ("no port in it").
 *   /wyvern/v1/claims/<networkId>/ip/<ip>           {"kind":"port","id","name"}: the address is a port's; created
 *   /wyvern/v1/claims/<networkId>/mac/<mac>         with the port only if absent (modRevision 0), deleted with it.
 *                                                   What makes addresses and MACs unique between port creates that
 *                                                   no longer serialise on the guard. On a provider network also
 *                                                   {"kind":"fip","id","ip"} (a floating IP's) and {"kind":"gateway",
 *                                                   "id","name"} (a router gateway's), the same way (port-claims.ts).
 *                                                   Router interfaces hold no claim: they are structure (above).
 *   /wyvern/v1/guard/sg/<groupId>                   put (blind) by every write that makes something refer to the group
 *                                                   (a port joining it, another group's rule naming it as remote);
 *                                                   a group delete compares its modRevision, so a reference made
 *                                                   after the delete read its users fails the delete instead of
 *                                                   dangling. Joins never compare it: they do not contend.
 *   /wyvern/v1/guard/router-fips/<routerId>         put (blind) by every floating IP association through the router;
 *                                                   compared by the writers that refuse while floating IPs use the
 *                                                   router (gateway clear and move, interface detach, router
 *                                                   delete), so an association made after they read fails them.
 *                                                   Associations never compare it: they do not contend (eighteenth
 *                                                   session; they bumped the provider and the port network's
 *                                                   structure guards before, and 300 at once took 46 s, 83 gave up).
 *   /wyvern/v1/guard/port-fips/<portId>             compared and put by every association with the port (two FIPs
 *                                                   for one fixed IP: the second fails and re-plans); compared by the
 *                                                   port's delete (an association after its read would dangle) and
 *                                                   deleted with the port.
 *   /wyvern/v1/retired/<name>                       tombstone written with an operator's `chassis delete`: the
 *                                                   chassis's running agent reads it and does not register again
 *                                                   (an agent that starts removes it: starting is commissioning).
 */
import type { Kind } from './types.js';

export const ROOT = '/wyvern/v1/';
export const NETWORKS_PREFIX = `${ROOT}networks/`;
export const NET_PREFIX = `${ROOT}net/`;
export const ROUTERS_PREFIX = `${ROOT}routers/`;
export const CHASSIS_PREFIX = `${ROOT}chassis/`;
export const NAMES_PREFIX = `${ROOT}names/`;
export const ALLOC_PREFIX = `${ROOT}alloc/`;
export const GUARD_PREFIX = `${ROOT}guard/`;
export const CLAIMS_PREFIX = `${ROOT}claims/`;
export const RETIRED_PREFIX = `${ROOT}retired/`;
export const SG_PREFIX = `${ROOT}sg/`;
export const SG_MEMBERS_PREFIX = `${ROOT}sg-members/`;
export const FIPS_PREFIX = `${ROOT}fips/`;
export const GATEWAYS_PREFIX = `${ROOT}gateways/`;
export const SEGMENTS_PREFIX = `${ROOT}segments/`;
/** Star network centers (CenterLease), sites (Site) and site gateways (SiteGatewayLease): issue 16. */
export const CENTERS_PREFIX = `${ROOT}centers/`;
export const SITES_PREFIX = `${ROOT}sites/`;
export const SITE_GATEWAYS_PREFIX = `${ROOT}site-gateways/`;
export const GATEWAY_OF_PREFIX = `${ROOT}gateway-of/`;
export const LAYOUT_PREFIX = `${ROOT}layout/`;
export const FIPS_ON_PREFIX = `${ROOT}fips-on/`;
/** Present once every router and FIP made before the index existed is indexed (model/lazy-index.ts). */
export const LAZY_INDEX_KEY = `${LAYOUT_PREFIX}lazy-index`;
/** Held (on its chassis lease) by the one agent that audits the lazy index now and then (lazy-index.ts auditLazyIndex). */
export const LAZY_INDEX_AUDITOR_KEY = `${LAYOUT_PREFIX}lazy-index-auditor`;

export type Pool = 'tunnel-key' | 'port-key' | 'router-key' | 'sg-key' | 'sg-rule-key';

export const networkKey = (id: string): string => `${NETWORKS_PREFIX}${id}`;
/** Everything an agent needs for one network: subnets, ports and bindings. */
export const netPrefix = (networkId: string): string => `${NET_PREFIX}${networkId}/`;
export const subnetsPrefix = (networkId: string): string => `${netPrefix(networkId)}subnets/`;
export const portsPrefix = (networkId: string): string => `${netPrefix(networkId)}ports/`;
export const bindingsPrefix = (networkId: string): string => `${netPrefix(networkId)}bindings/`;
export const subnetKey = (networkId: string, id: string): string => `${subnetsPrefix(networkId)}${id}`;
export const portKey = (networkId: string, id: string): string => `${portsPrefix(networkId)}${id}`;
export const bindingKey = (networkId: string, portId: string): string => `${bindingsPrefix(networkId)}${portId}`;
export const routerKey = (id: string): string => `${ROUTERS_PREFIX}${id}`;
/** The lazy index (see the layout above): a router on a network, a FIP on its port's network, a gateway candidate. */
export const routerRefKey = (networkId: string, routerId: string): string => `${netPrefix(networkId)}routers/${routerId}`;
export const fipRefKey = (networkId: string, fipId: string): string => `${netPrefix(networkId)}fips/${fipId}`;
export const gatewayOfPrefix = (chassis: string): string => `${GATEWAY_OF_PREFIX}${chassis}/`;
export const fipsOnPrefix = (networkId: string): string => `${FIPS_ON_PREFIX}${networkId}/`;
export const fipOnKey = (networkId: string, fipId: string): string => `${fipsOnPrefix(networkId)}${fipId}`;
export const gatewayOfKey = (chassis: string, routerId: string): string => `${gatewayOfPrefix(chassis)}${routerId}`;
export const chassisKey = (name: string): string => `${CHASSIS_PREFIX}${name}`;
export const retiredKey = (name: string): string => `${RETIRED_PREFIX}${name}`;
export const namesPrefix = (kind: Kind): string => `${NAMES_PREFIX}${kind}/`;
export const nameKey = (kind: Kind, name: string): string => `${namesPrefix(kind)}${name}`;
/** A port's id claim (see the layout above): what an iface-id equal to the port's id resolves through. */
export const portIdKey = (portId: string): string => nameKey('port', portId);
export const poolPrefix = (pool: Pool): string => `${ALLOC_PREFIX}${pool}/`;
export const allocKey = (pool: Pool, n: number): string => `${poolPrefix(pool)}${n}`;
export const guardKey = (networkId: string): string => `${GUARD_PREFIX}${networkId}`;
/** The keys under a network's structure guard: its ports guard and its subnets' (see the layout above). */
export const netGuardsPrefix = (networkId: string): string => `${GUARD_PREFIX}${networkId}/`;
export const portsGuardKey = (networkId: string): string => `${netGuardsPrefix(networkId)}ports`;
export const subnetGuardKey = (networkId: string, subnetId: string): string => `${netGuardsPrefix(networkId)}subnet/${subnetId}`;
/** A network's address and MAC claims (see the layout above). */
export const claimsPrefix = (networkId: string): string => `${CLAIMS_PREFIX}${networkId}/`;
export const ipClaimsPrefix = (networkId: string): string => `${claimsPrefix(networkId)}ip/`;
export const ipClaimKey = (networkId: string, ip: string): string => `${ipClaimsPrefix(networkId)}${ip}`;
export const macClaimKey = (networkId: string, mac: string): string => `${claimsPrefix(networkId)}mac/${mac}`;
/** See the layout above: bumped by new references to a group, compared by its delete. */
export const sgGuardKey = (groupId: string): string => `${GUARD_PREFIX}sg/${groupId}`;
export const sgKey = (groupId: string): string => `${SG_PREFIX}${groupId}`;
/** See the layout above: put by associations through the router, compared by the writers refusing while FIPs use it. */
export const routerFipsGuardKey = (routerId: string): string => `${GUARD_PREFIX}router-fips/${routerId}`;
/** See the layout above: compared and put by associations with the port, compared by its delete. */
export const portFipsGuardKey = (portId: string): string => `${GUARD_PREFIX}port-fips/${portId}`;
/** One group's members (its address set). */
export const sgMembersPrefix = (groupId: string): string => `${SG_MEMBERS_PREFIX}${groupId}/`;
export const sgMemberKey = (groupId: string, portId: string): string => `${sgMembersPrefix(groupId)}${portId}`;

export const fipKey = (id: string): string => `${FIPS_PREFIX}${id}`;
export const gatewayKey = (routerId: string): string => `${GATEWAYS_PREFIX}${routerId}`;
export const centerKey = (networkId: string): string => `${CENTERS_PREFIX}${networkId}`;
export const siteKey = (site: string): string => `${SITES_PREFIX}${site}`;
export const siteGatewayKey = (site: string): string => `${SITE_GATEWAYS_PREFIX}${site}`;
/** The reservation of one physical segment: a VLAN id on a physnet, or the physnet untagged ('flat'). */
export const segmentKey = (physnet: string, vlan: number | undefined): string => `${SEGMENTS_PREFIX}${physnet}/${vlan ?? 'flat'}`;

export type ParsedKey =
  | { kind: 'network'; networkId: string }
  | { kind: 'subnet'; networkId: string; subnetId: string }
  | { kind: 'port'; networkId: string; portId: string }
  | { kind: 'binding'; networkId: string; portId: string }
  | { kind: 'router'; routerId: string }
  | { kind: 'router-ref'; networkId: string; routerId: string }
  | { kind: 'fip-ref'; networkId: string; fipId: string }
  | { kind: 'gateway-of'; chassis: string; routerId: string }
  | { kind: 'fip-on'; networkId: string; fipId: string }
  | { kind: 'chassis'; name: string }
  | { kind: 'name'; of: Kind; name: string }
  | { kind: 'alloc'; pool: Pool; n: number }
  | { kind: 'guard'; networkId: string }
  | { kind: 'security-group'; groupId: string }
  | { kind: 'sg-member'; groupId: string; portId: string }
  | { kind: 'floating-ip'; fipId: string }
  | { kind: 'gateway'; routerId: string }
  | { kind: 'center'; networkId: string }
  | { kind: 'site'; site: string }
  | { kind: 'site-gateway'; site: string };

const KINDS: readonly string[] = ['network', 'subnet', 'port', 'router', 'security-group', 'floating-ip'];
const POOLS: readonly string[] = ['tunnel-key', 'port-key', 'router-key', 'sg-key', 'sg-rule-key'];

/** Tells what a store key holds; undefined for keys outside the layout. */
export function parseKey(key: string): ParsedKey | undefined {
  if (!key.startsWith(ROOT)) return undefined;
  const parts = key.slice(ROOT.length).split('/');
  const ok = (n: number): boolean => parts.length === n && parts.every((p) => p.length > 0);
  switch (parts[0]) {
    case 'networks':
      return ok(2) ? { kind: 'network', networkId: parts[1]! } : undefined;
    case 'net': {
      if (!ok(4)) return undefined;
      const [, networkId, sub, id] = parts as [string, string, string, string];
      if (sub === 'subnets') return { kind: 'subnet', networkId, subnetId: id };
      if (sub === 'ports') return { kind: 'port', networkId, portId: id };
      if (sub === 'bindings') return { kind: 'binding', networkId, portId: id };
      if (sub === 'routers') return { kind: 'router-ref', networkId, routerId: id };
      if (sub === 'fips') return { kind: 'fip-ref', networkId, fipId: id };
      return undefined;
    }
    case 'routers':
      return ok(2) ? { kind: 'router', routerId: parts[1]! } : undefined;
    case 'chassis':
      return ok(2) ? { kind: 'chassis', name: parts[1]! } : undefined;
    case 'names':
      return ok(3) && KINDS.includes(parts[1]!) ? { kind: 'name', of: parts[1] as Kind, name: parts[2]! } : undefined;
    case 'alloc': {
      if (!ok(3) || !POOLS.includes(parts[1]!) || !/^\d+$/.test(parts[2]!)) return undefined;
      return { kind: 'alloc', pool: parts[1] as Pool, n: Number(parts[2]) };
    }
    case 'guard':
      return ok(2) ? { kind: 'guard', networkId: parts[1]! } : undefined;
    case 'sg':
      return ok(2) ? { kind: 'security-group', groupId: parts[1]! } : undefined;
    case 'sg-members':
      return ok(3) ? { kind: 'sg-member', groupId: parts[1]!, portId: parts[2]! } : undefined;
    case 'fips':
      return ok(2) ? { kind: 'floating-ip', fipId: parts[1]! } : undefined;
    case 'gateways':
      return ok(2) ? { kind: 'gateway', routerId: parts[1]! } : undefined;
    case 'gateway-of':
      return ok(3) ? { kind: 'gateway-of', chassis: parts[1]!, routerId: parts[2]! } : undefined;
    case 'fips-on':
      return ok(3) ? { kind: 'fip-on', networkId: parts[1]!, fipId: parts[2]! } : undefined;
    case 'centers':
      return ok(2) ? { kind: 'center', networkId: parts[1]! } : undefined;
    case 'sites':
      return ok(2) ? { kind: 'site', site: parts[1]! } : undefined;
    case 'site-gateways':
      return ok(2) ? { kind: 'site-gateway', site: parts[1]! } : undefined;
    default:
      return undefined;
  }
}
