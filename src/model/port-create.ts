/**
 * Port creation (issue 17: a thousand concurrent creates into one network must all succeed, fast).
 *
 * A creation compares the network's structure guard but does not bump it; what it allocates is made unique by keys of
 * its own, each created only if absent: the name, the id, the port key, one claim per address and one for the MAC
 * (port-claims.ts). Two creations in one network therefore conflict only when they pick the same address, MAC or
 * port key, and picks are spread at random while several are in flight, so they rarely do. Structural changes
 * (subnets, router interfaces and gateways, floating IPs, deletes) bump the guard and so still fail every creation
 * planned before them; those among them that must see every port compare the ports guard each creation puts.
 *
 * Reads per creation: none when this instance's view of the network is current (the compares check it), else one
 * (the guard, the name, the network's address claims) when only claims moved, else the full network snapshot.
 * Ports written before claims existed have none: the full snapshot lists every port, so their addresses and MACs
 * are checked alongside the claims (nothing is migrated); writers of that age bump the guard on every port change,
 * which makes every view taken before it stale.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { Compare, KeyValue, ReadOp, Store, TxnOp } from '../store/types.js';
import { POOL_MAX, runCas, type CasOptions, type Plan } from './cas.js';
import { decodeNetwork, encodePort } from './codec.js';
import { conflict, invalid } from './errors.js';
import { allocKey, guardKey, ipClaimsPrefix, macClaimKey, nameKey, networkKey, portIdKey, portKey } from './keys.js';
import { generateMac } from './macs.js';
import { claimOwner, claimPort, hostCount, pickIpAtRandom, pickIpFrom } from './port-claims.js';
import { givenIdCompares } from './port-ids.js';
import { assignIps, type Owners } from './port-ips.js';
import type { Cidr } from '../net/addr.js';
import { decodeClaim, encodeClaim, guardCompare, ipOwners, macOwners, networkIdOf, snapshotNet, type NetState } from './read.js';
import { membershipOps, resolveGroups, type ResolvedGroup } from './sg-members.js';
import type { Port } from './types.js';
import { parsePortInput, UUID_RE } from './validate.js';

type PortInput = ReturnType<typeof parsePortInput>;

/** One network as last read by this instance, kept up to date with its own creations. */
interface PortPlanView {
  network: KeyValue;
  /** The network's structure (and its ports) at the guard revision st.guardRev. */
  st: NetState;
  /**
   * Who holds each address: the snapshot's holders (in words) plus every claim read since (the claim's raw value,
   * put in words only for a message: describeOwner), plus this instance's creations.
   */
  owners: Map<string, string>;
  macs: Map<string, string>;
  /** Read in full (st.ports current), not only the claims over a remembered structure. */
  full: boolean;
}

/** This instance's creations in flight in one network: addresses they picked are left to them by the others. */
interface Flight {
  count: number;
  picked: Set<string>;
}

/** What a request reads for itself on a retry: whether its name is free and its network name still names it. */
interface Checks {
  renamed: boolean;
  macOwner?: string;
}

const describeOwner = (o: string): string => (o.startsWith('{') ? claimOwner(o) : o);

/**
 * Creations of one network an API server lets plan and commit at once; the others wait their turn. A creation plans
 * from what the server last read, so the more are planned at once, the more pick an address another server took
 * meanwhile (a lost race: a transaction and a read wasted). Those that wait plan from a view refreshed by the
 * retries of those before them. 64 keeps etcd as busy as the put reference does (32 writers).
 */
const IN_FLIGHT = 64;

/** A counting semaphore: at most `n` holders, the others queued in order. */
class Slots {
  private free: number;
  private readonly queue: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  get idle(): boolean {
    return this.queue.length === 0 && this.free === IN_FLIGHT;
  }
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.queue.push(r));
  }
  give(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.free++;
  }
}

export class PortCreator {
  /**
   * Network name → id as last seen. Only a hint that saves a round trip: every use compares the name's claim in the
   * transaction and resolves again when it no longer names that network.
   */
  private readonly networkIds = new Map<string, string>();
  private readonly views = new Map<string, PortPlanView>();
  /** Reads of a network in flight: concurrent creations there share one (full: a full read). */
  private readonly loading = new Map<string, { full: boolean; p: Promise<PortPlanView | undefined> }>();
  private readonly flights = new Map<string, Flight>();
  /** Network reference (as requests name it) → its creations' turns (IN_FLIGHT). */
  private readonly slots = new Map<string, Slots>();
  /** Subnet id → the host number this instance starts allocating from when creations overlap (pickIpFrom). */
  private readonly starts = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly opts: CasOptions,
  ) {}

  /** The network was deleted: its remembered view and name are useless. */
  forget(networkId: string, name?: string): void {
    this.views.delete(networkId);
    if (name !== undefined) this.networkIds.delete(name);
  }

  async create(body: unknown): Promise<Port> {
    const input = parsePortInput(body);
    const id = input.id ?? randomUUID();
    const byName = !UUID_RE.test(input.network);
    const mine: { flight?: Flight; netId?: string; picked: string[] } = { picked: [] };
    const notFound = () => invalid('network', `network: network ${input.network} not found`);
    let slots = this.slots.get(input.network);
    if (!slots) this.slots.set(input.network, (slots = new Slots(IN_FLIGHT)));
    await slots.take();
    try {
      return await runCas(
        this.store,
        async (attempt) => {
          // A given id (a VIF's uuid) must be no other object's.
          const idCmps = input.id === undefined ? [] : await givenIdCompares(this.store, id);
          // The groups are read on every attempt (none when the port joins none): their revisions are compared.
          const sgs = await resolveGroups(this.store, input.securityGroups);
          let netId = (byName && this.networkIds.get(input.network)) || (await networkIdOf(this.store, input.network, 'network'));
          if (byName) this.networkIds.set(input.network, netId);
          const flight = this.join(netId, mine);
          const plan = (view: PortPlanView, macOwner?: string): Plan<Port> => {
            const p = this.planPort(input, id, view, { attempt, flight, sgs, idCmps, byName, macOwner });
            for (const f of p.result.fixedIps) {
              flight.picked.add(f.ip);
              mine.picked.push(f.ip);
            }
            return p;
          };
          if (attempt === 0) {
            // First try: plan from this instance's view of the network (read once for all the creations starting
            // together), without a read of its own; the compares reject it if anything it relied on changed. On a
            // planning error too, decide again from the store.
            const known = this.views.get(netId);
            const view = known ?? (await this.network(netId, false));
            if (!view) throw notFound();
            try {
              return { ...plan(view), speculative: known !== undefined };
            } catch {
              // Possibly an artefact of a stale view (an address freed elsewhere): decide on what the store holds.
            }
          }
          // A retry: what the network holds now (shared with the other retries here) and this request's own checks.
          let [view, checks] = await Promise.all([this.network(netId, false), this.checks(netId, input, byName)]);
          if (checks.renamed) {
            // The remembered id is stale (the network was deleted or its name reused): resolve the name again.
            this.forget(netId, input.network);
            netId = await networkIdOf(this.store, input.network, 'network');
            [view, checks] = await Promise.all([this.network(netId, true), this.checks(netId, input, byName)]);
            if (checks.renamed) throw notFound();
          }
          if (!view) throw notFound();
          if (byName) this.networkIds.set(input.network, netId);
          try {
            return plan(view, checks.macOwner);
          } catch (err) {
            // A view re-read only in part may still list ports deleted since: only a full read is the last word.
            if (view.full) throw err;
            const full = await this.network(netId, true);
            if (!full) throw notFound();
            return plan(full, checks.macOwner);
          }
        },
        this.opts,
      );
    } finally {
      slots.give();
      if (slots.idle && this.slots.get(input.network) === slots) this.slots.delete(input.network);
      const f = mine.flight;
      if (f) {
        for (const ip of mine.picked) f.picked.delete(ip);
        if (--f.count === 0 && this.flights.get(mine.netId!) === f) this.flights.delete(mine.netId!);
      }
    }
  }

  /** This instance's starting point in a subnet of `size` hosts (random, kept: pickIpFrom). */
  private startOf(subnetId: string, size: number): number {
    let s = this.starts.get(subnetId);
    if (s === undefined || s >= size) this.starts.set(subnetId, (s = size > 0 ? randomInt(size) : 0));
    return s;
  }

  /** Counts this request among the network's creations in flight (once, whatever its attempts). */
  private join(netId: string, mine: { flight?: Flight; netId?: string }): Flight {
    if (mine.flight) return mine.flight;
    mine.netId = netId;
    let f = this.flights.get(netId);
    if (!f) this.flights.set(netId, (f = { count: 0, picked: new Set() }));
    f.count++;
    mine.flight = f;
    return f;
  }

  /**
   * The network as the store holds it now, read once for every creation here that asks meanwhile: the record, the
   * guard and the address claims over the remembered structure when the guard has not moved, else everything.
   * Undefined when the network does not exist.
   */
  private network(netId: string, full: boolean): Promise<PortPlanView | undefined> {
    const cur = this.loading.get(netId);
    if (cur && (cur.full || !full)) return cur.p;
    const p = this.load(netId, full ? undefined : this.views.get(netId)).finally(() => {
      if (this.loading.get(netId)?.p === p) this.loading.delete(netId);
    });
    this.loading.set(netId, { full, p });
    return p;
  }

  private async load(netId: string, known: PortPlanView | undefined): Promise<PortPlanView | undefined> {
    const claims: ReadOp = { prefix: ipClaimsPrefix(netId) };
    if (known) {
      const { results } = await this.store.read([{ key: networkKey(netId) }, { key: guardKey(netId) }, claims]);
      const [net, guard, ipClaims] = results as [KeyValue[], KeyValue[], KeyValue[]];
      if (net[0] && net[0].modRevision === known.network.modRevision && (guard[0]?.modRevision ?? 0) === known.st.guardRev) {
        // Only claims moved (creations and deletes do not bump the guard): keep the structure, and the MACs known
        // (those of ports made since are claimed: a generated one that collides loses its race and is drawn again).
        return this.remember(netId, {
          network: net[0],
          st: known.st,
          owners: withClaims(netId, ipOwners(known.st), ipClaims),
          macs: known.macs,
          full: false,
        });
      }
    }
    const snap = await snapshotNet(this.store, netId, [claims]);
    if (!snap.network) return undefined;
    const owners = withClaims(netId, ipOwners(snap.st), snap.extra[0]!);
    return this.remember(netId, { network: snap.network, st: snap.st, owners, macs: macOwners(snap.st), full: true });
  }

  private remember(netId: string, view: PortPlanView): PortPlanView {
    this.views.set(netId, view);
    return view;
  }

  /** A retry's own reads: its name (free?), its network's name (still that network?) and the MAC it asks for. */
  private async checks(netId: string, input: PortInput, byName: boolean): Promise<Checks> {
    const { results } = await this.store.read([
      { key: nameKey('port', input.name) },
      { key: nameKey('network', input.network) },
      { key: macClaimKey(netId, input.mac ?? 'none') },
    ]);
    const [name, netClaim, mac] = results as [KeyValue[], KeyValue[], KeyValue[]];
    const renamed = byName && (netClaim[0] === undefined || decodeClaim(netClaim[0].value).id !== netId);
    if (!renamed && name[0]) throw conflict('name', `a port named ${input.name} already exists`);
    return { renamed, ...(input.mac !== undefined && mac[0] ? { macOwner: mac[0].value } : {}) };
  }

  /**
   * The transaction creating a port in a network as `view` shows it; once committed, `view` learns the new
   * port's address and MAC, so that the next creation there can plan from it without a read.
   */
  private planPort(
    input: PortInput,
    id: string,
    view: PortPlanView,
    o: { attempt: number; flight: Flight; sgs: ResolvedGroup[]; idCmps: Compare[]; byName: boolean; macOwner?: string },
  ): Plan<Port> {
    const { st } = view;
    const nkv = view.network;
    const net = decodeNetwork(nkv.value);
    if (input.mac !== undefined) {
      const owner = o.macOwner ?? view.macs.get(input.mac);
      if (owner !== undefined) throw conflict('mac', `MAC ${input.mac} is already used by ${describeOwner(owner)} in network ${net.name}`);
    }
    const mac = input.mac ?? generateMac(view.macs);
    // Addresses picked by this instance's other creations in flight are left to them, unless asked for explicitly
    // (then the claims decide, and the loser gets a clear conflict on its retry).
    const picked = o.flight.picked;
    const asked = new Set((input.fixedIps ?? []).flatMap((f) => (f.ip === undefined ? [] : [f.ip])));
    const owners: Owners = {
      has: (ip) => view.owners.has(ip) || (picked.has(ip) && !asked.has(ip)),
      get: (ip) => view.owners.get(ip) ?? (picked.has(ip) ? 'a port being created' : undefined),
    };
    // Alone: the lowest free address (what a user creating ports one by one expects). Several in flight here: each
    // from this instance's own stretch of the subnet. After a lost race: anywhere free, at random (port-claims.ts).
    const pick =
      o.attempt > 0
        ? (c: Cidr, gw: string, taken: { has(ip: string): boolean }) => pickIpAtRandom(c, gw, taken, randomInt)
        : o.flight.count > 1
          ? (c: Cidr, gw: string, taken: { has(ip: string): boolean }, subnetId: string) =>
              pickIpFrom(c, gw, taken, this.startOf(subnetId, hostCount(c)))
          : undefined;
    const fixedIps = assignIps(input.fixedIps, st, net, { owners, describe: describeOwner, ...(pick ? { pick } : {}) });
    // Port keys are drawn at random from the whole pool (2^32 - 2 keys): two creations draw the same one about
    // never, and no read of the pool (one key per port in the cluster) is needed.
    const pk = 1 + randomInt(POOL_MAX['port-key']);
    const p: Port = {
      id,
      name: input.name,
      networkId: net.id,
      mac,
      fixedIps,
      portSecurity: input.portSecurity,
      allowedAddressPairs: input.allowedAddressPairs,
      portKey: pk,
      securityGroups: o.sgs.map((g) => g.id),
      ...(input.qos !== undefined ? { qos: input.qos } : {}),
    };
    const claim = encodeClaim({ id, networkId: net.id });
    const members = membershipOps(undefined, p, o.sgs);
    const claims = claimPort(p);
    const compares: Compare[] = [
      { key: nkv.key, modRevision: nkv.modRevision },
      guardCompare(st),
      { key: nameKey('port', p.name), modRevision: 0 },
      { key: portIdKey(id), modRevision: 0 },
      { key: allocKey('port-key', pk), modRevision: 0 },
      ...claims.compares,
      ...o.idCmps,
      ...members.compares,
    ];
    if (o.byName) compares.push({ key: nameKey('network', input.network), value: encodeClaim({ id: net.id }) });
    const ops: TxnOp[] = [
      { op: 'put', key: portKey(net.id, id), value: encodePort(p) },
      { op: 'put', key: nameKey('port', p.name), value: claim },
      { op: 'put', key: portIdKey(id), value: claim },
      { op: 'put', key: allocKey('port-key', pk), value: `port/${id}` },
      ...claims.ops,
      ...members.ops,
    ];
    return {
      compares,
      ops,
      result: p,
      committed: () => {
        // Into the view planned from and the one remembered now, if another read replaced it meanwhile.
        for (const v of new Set([view, this.views.get(net.id)])) {
          if (!v) continue;
          for (const f of fixedIps) v.owners.set(f.ip, `port ${p.name}`);
          v.macs.set(mac, `port ${p.name}`);
        }
      },
    };
  }
}

/** The holders of a snapshot plus the address claims read (kept raw: decoded only for a message). */
function withClaims(netId: string, owners: Map<string, string>, claims: KeyValue[]): Map<string, string> {
  const prefix = ipClaimsPrefix(netId);
  for (const kv of claims) owners.set(kv.key.slice(prefix.length), kv.value);
  return owners;
}
