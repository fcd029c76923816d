/**
 * A port's claims (issue 17): what makes its addresses and MAC unique without serialising port creates on the
 * network's guard. Each address and the MAC get a key of their own under /wyvern/v1/claims/<networkId>/ (keys.ts),
 * created in the port's transaction only if absent and deleted with the port; the port also puts the ports guard
 * and the guard of each subnet it takes an address in, blind (no compare), so that the few writers that must see
 * every port (a network or subnet delete, anything placing an address there without a claim) notice it. Floating
 * IPs claim theirs on their provider network the same way (claimFip, since the tenth session), and so do router
 * gateways (claimGateway, since the nineteenth).
 */
import { randomInt } from 'node:crypto';
import type { Compare, TxnOp } from '../store/types.js';
import { intToIp, ipToInt, maskOf, type Cidr } from '../net/addr.js';
import { ipClaimKey, macClaimKey, portsGuardKey, subnetGuardKey } from './keys.js';
import type { FloatingIp, Port, Router, RouterGateway } from './types.js';
import { isoTime } from '../util/time.js';

/**
 * A claim's value: who holds the address or MAC (a port; on a provider network, a floating IP or a router's gateway,
 * since the nineteenth session).
 */
type ClaimDoc =
  { kind: 'port'; id: string; name: string } | { kind: 'fip'; id: string; ip: string } | { kind: 'gateway'; id: string; name: string };

export function encodePortClaim(p: Pick<Port, 'id' | 'name'>): string {
  const c: ClaimDoc = { kind: 'port', id: p.id, name: p.name };
  return JSON.stringify(c);
}

export function encodeFipClaim(f: Pick<FloatingIp, 'id' | 'ip'>): string {
  const c: ClaimDoc = { kind: 'fip', id: f.id, ip: f.ip };
  return JSON.stringify(c);
}

export function encodeGatewayClaim(r: Pick<Router, 'id' | 'name'>): string {
  const c: ClaimDoc = { kind: 'gateway', id: r.id, name: r.name };
  return JSON.stringify(c);
}

/** Who a claim names, as "already used by …" messages say it. */
export function claimOwner(value: string): string {
  try {
    const c = JSON.parse(value) as Partial<{ kind: string; id: string; name: string; ip: string }>;
    if (c.kind === 'fip') return `floating IP ${c.ip ?? '?'} (${c.id ?? '?'})`;
    if (c.kind === 'gateway') return `the gateway of router ${c.name ?? c.id ?? '?'}`;
    return `port ${c.name ?? c.id ?? '?'}`;
  } catch {
    return 'another port';
  }
}

/** The id of the floating IP a claim names; undefined for a port's claim (or an unreadable value). */
export function claimedFip(value: string): string | undefined {
  try {
    const c = JSON.parse(value) as Partial<ClaimDoc>;
    return c.kind === 'fip' && typeof c.id === 'string' ? c.id : undefined;
  } catch {
    return undefined;
  }
}

/** An address holder in a network: a port (its fixed IPs) or a floating IP (its one address). */
interface Holder {
  networkId: string;
  mac: string;
  /** Its addresses, each with the subnet it is in. */
  addresses: { ip: string; subnetId: string }[];
  /** The claims' value: who holds them (encodePortClaim, encodeFipClaim). */
  value: string;
}

/** The keys a holder of `ips` and `mac` in a network claims: one per address, one for the MAC. */
const claimKeys = (networkId: string, ips: readonly string[], mac: string): string[] => [
  ...ips.map((ip) => ipClaimKey(networkId, ip)),
  macClaimKey(networkId, mac),
];

/**
 * The compares and writes that claim a new holder's addresses and MAC (each created only if absent), and signal it to
 * the guards' readers: the ports guard and the guard of each subnet it takes an address in, put blind.
 */
function claim(h: Holder): { compares: Compare[]; ops: TxnOp[] } {
  const keys = claimKeys(
    h.networkId,
    h.addresses.map((a) => a.ip),
    h.mac,
  );
  const now = isoTime();
  const subnets = [...new Set(h.addresses.map((a) => a.subnetId))];
  return {
    compares: keys.map((key) => ({ key, modRevision: 0 })),
    ops: [
      ...keys.map((key): TxnOp => ({ op: 'put', key, value: h.value })),
      { op: 'put', key: portsGuardKey(h.networkId), value: now },
      ...subnets.map((s): TxnOp => ({ op: 'put', key: subnetGuardKey(h.networkId, s), value: now })),
    ],
  };
}

/**
 * The writes releasing a deleted holder's claims. One written before claims existed has none: deleting absent keys is
 * a no-op, so the same ops serve both.
 */
function release(networkId: string, ips: readonly string[], mac: string): TxnOp[] {
  return [
    ...claimKeys(networkId, ips, mac).map((key): TxnOp => ({ op: 'delete', key })),
    { op: 'put', key: portsGuardKey(networkId), value: isoTime() },
  ];
}

/** A new port's claims (claim). */
export function claimPort(p: Port): { compares: Compare[]; ops: TxnOp[] } {
  return claim({ networkId: p.networkId, mac: p.mac, addresses: p.fixedIps, value: encodePortClaim(p) });
}

/** The writes releasing a deleted port's claims (release). */
export function releasePort(p: Port): TxnOp[] {
  return release(
    p.networkId,
    p.fixedIps.map((f) => f.ip),
    p.mac,
  );
}

/**
 * A new floating IP's claims on its provider network, as a port's (the same keys, so a port and a FIP, or two FIPs,
 * picking one address conflict there and nowhere else; the guards for the writers that place addresses without a
 * claim — router interfaces — or must see every holder — network and subnet deletes).
 */
export function claimFip(f: FloatingIp, subnetId: string): { compares: Compare[]; ops: TxnOp[] } {
  return claim({ networkId: f.networkId, mac: f.mac, addresses: [{ ip: f.ip, subnetId }], value: encodeFipClaim(f) });
}

/** The writes releasing a deleted FIP's claims (release; a FIP written before FIPs claimed has none). */
export function releaseFip(f: FloatingIp): TxnOp[] {
  return release(f.networkId, [f.ip], f.mac);
}

/**
 * A router gateway's claims on its provider network, as a floating IP's (claim): a gateway set at once with ports, FIPs
 * and other gateways there conflicts only when it picks the same address or MAC, instead of serialising on the
 * network's structure guard (which every gateway change bumped until the nineteenth session). `held`: the claim keys
 * as read, for a gateway that may hold them already (set again on the same network): each key is compared at the
 * revision read (0: still absent) and put with the router's value, so a gateway set before gateways claimed gets its
 * claims on its next change, and one that has them keeps them.
 */
export function claimGateway(
  r: Pick<Router, 'id' | 'name'>,
  gw: RouterGateway,
  held: ReadonlyMap<string, number> = new Map(),
): { compares: Compare[]; ops: TxnOp[] } {
  const c = claim({
    networkId: gw.networkId,
    mac: gw.mac,
    addresses: [{ ip: gw.ip, subnetId: gw.subnetId }],
    value: encodeGatewayClaim(r),
  });
  return { compares: c.compares.map((x) => ({ key: x.key, modRevision: held.get(x.key) ?? 0 })), ops: c.ops };
}

/** The keys a gateway's claims are at (claimGateway). */
export const gatewayClaimKeys = (gw: RouterGateway): string[] => claimKeys(gw.networkId, [gw.ip], gw.mac);

/** The writes releasing a gateway's claims (release; a gateway set before gateways claimed has none). */
export function releaseGateway(gw: RouterGateway): TxnOp[] {
  return release(gw.networkId, [gw.ip], gw.mac);
}

/** A free address of `c` chosen at random (randomFree): for writers taking addresses in a burst. */
export const randomPick = (c: Cidr, gateway: string, taken: { has(ip: string): boolean }): string | undefined =>
  randomFree(c, gateway, taken, randomInt)?.ip;

/** How many host addresses `c` has (not its network and broadcast addresses; a /31 or /32 has none here). */
export function hostCount(c: Cidr): number {
  const first = c.network + 1;
  const last = ((c.network | ~maskOf(c.prefix)) >>> 0) - 1;
  return Math.max(0, last - first + 1);
}

/** Host number `h` (0 … hostCount − 1) of `c` as an address. */
const hostIp = (c: Cidr, h: number): string => intToIp(c.network + 1 + h);

/**
 * The first free host of `c` (not its gateway, not in `used`) at or after host number `from`, without wrapping:
 * its address and host number, or undefined. The caller remembers where to look next, so that a run of creations
 * does not scan the addresses it already took again (allocation stays O(1) per creation, not O(ports)).
 */
export function firstFreeFrom(
  c: Cidr,
  gateway: string,
  used: { has(ip: string): boolean },
  from: number,
): { ip: string; host: number } | undefined {
  const size = hostCount(c);
  const gw = ipToInt(gateway);
  for (let h = Math.max(0, from); h < size; h++) {
    const free = freeHost(c, gw, used, h);
    if (free) return free;
  }
  return undefined;
}

/** Host `h` of `c` if it is neither the gateway nor used. */
function freeHost(c: Cidr, gw: number, used: { has(ip: string): boolean }, h: number): { ip: string; host: number } | undefined {
  if (c.network + 1 + h === gw) return undefined;
  const ip = hostIp(c, h);
  return used.has(ip) ? undefined : { ip, host: h };
}

/** Random probes a pick makes before it scans (the subnet is then nearly full). */
const PROBES = 32;

/** Free candidates a scan of a nearly full subnet collects, one chosen among them. */
const CANDIDATES = 4096;

/**
 * A free host of `c` chosen uniformly among the free ones: random probes (expected O(1) while a fair share is free),
 * then, when the subnet is nearly full, a scan from a random point collecting up to CANDIDATES free ones.
 */
export function randomFree(
  c: Cidr,
  gateway: string,
  used: { has(ip: string): boolean },
  rand: (n: number) => number,
): { ip: string; host: number } | undefined {
  const size = hostCount(c);
  if (size === 0) return undefined;
  const gw = ipToInt(gateway);
  for (let i = 0; i < PROBES; i++) {
    const free = freeHost(c, gw, used, rand(size));
    if (free) return free;
  }
  const start = rand(size);
  const found: { ip: string; host: number }[] = [];
  for (let i = 0; i < size && found.length < CANDIDATES; i++) {
    const free = freeHost(c, gw, used, (start + i) % size);
    if (free) found.push(free);
  }
  return found.length === 0 ? undefined : found[rand(found.length)];
}
