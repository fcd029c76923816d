/**
 * Port creation (issue 17: a thousand concurrent creates into one network must all succeed, fast).
 *
 * A creation compares the network's structure guard but does not bump it; what it allocates is made unique by keys of
 * its own, each created only if absent: the name, the id, the port key, one claim per address and one for the MAC
 * (port-claims.ts). Two creations in one network therefore conflict only when they pick the same address, MAC or
 * port key, and picks are spread at random while several are in flight, so they rarely do. Floating IPs and router
 * gateways claim their addresses the same way (port-claims.ts); structural changes (subnets, router interfaces) bump
 * the guard and so still fail every creation planned before them; those among them that must see every port compare
 * the ports guard each creation puts.
 *
 * Reads per creation: none when this instance's view of the network is current (the compares check it); after a
 * lost race one small read (the network's record and guard, the request's name, network name and MAC), the view's
 * address owners being kept current by a watch of the network's address claims (claims-watch.ts); the full network
 * snapshot only when its structure moved, the first time, or before a refusal. Ports written before claims existed
 * have none: the full snapshot lists every port, so their addresses and MACs are checked alongside the claims
 * (nothing is migrated); writers of that age bump the guard on every port change, which makes every view taken
 * before it stale. Allocation is O(1) expected per creation (port-claims.ts: a cursor, random probes), never a scan
 * of the network's ports or claims. The commits of creations planned together go to the store as one transaction
 * (txn-batch.ts: group commit), each keeping its own compares.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { Compare, KeyValue, Store, TxnOp, Watch } from '../store/types.js';
import { POOL_MAX, runCas, writeOptions, type CasOptions, type Plan } from './cas.js';
import { decodeNetwork, decodePort, encodePort } from './codec.js';
import { conflict, invalid, ModelError } from './errors.js';
import { watchClaims } from './claims-watch.js';
import { TxnBatcher } from './txn-batch.js';
import { allocKey, GUARD_PREFIX, guardKey, ipClaimsPrefix, macClaimKey, nameKey, networkKey, portIdKey, portKey } from './keys.js';
import { generateMac } from './macs.js';
import { claimOwner, claimPort, firstFreeFrom, randomFree } from './port-claims.js';
import { givenIdCompares } from './port-ids.js';
import { assignIps, type Owners } from './port-ips.js';
import type { Cidr } from '../net/addr.js';
import { createdAs, decodeClaim, encodeClaim, guardCompare, ipOwners, macOwners, networkIdOf, snapshotNet, type NetState } from './read.js';
import { membershipOps, resolveGroups, type ResolvedGroup } from './sg-members.js';
import type { Network, Port } from './types.js';
import { withRevision } from './precondition.js';
import { singleFlight } from '../util/single-flight.js';
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
  /** Subnet id → a host number below which every address is known taken (the "lowest free" search starts there). */
  low: Map<string, number>;
  /** Address → revision of this server's own claim of it not yet seen by the watch (claims-watch.ts). */
  commits: Map<string, number>;
  /** The store revision the view was read at. */
  rev: number;
  /**
   * Keeps `owners` current (claims-watch.ts), from rev + 1. Started only once creations here overlap in the network
   * or one lost a race (another writer is there): a network written by one server at a time costs no watch.
   */
  watch?: Watch;
  /** When a creation last used the view (ms): idle views stop being watched. */
  used: number;
  /** `network` decoded, once for all the creations planned from the view. */
  net?: Network;
}

/** A view no creation used for this long stops being watched and is forgotten (the next creation reads in full). */
const IDLE_MS = 60_000;

/** This instance's creations in flight in one network: addresses they picked are left to them by the others. */
interface Flight {
  count: number;
  picked: Set<string>;
}

/**
 * What a request reads for itself on a retry: whether its name is free, its network name still names it, and the
 * network's record and structure guard (is the view's structure still current?).
 */
interface Checks {
  renamed: boolean;
  macOwner?: string;
  network?: KeyValue;
  guardRev: number;
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
  /** Network name (or id) lookups in flight, shared (networkId()). */
  private readonly resolving = new Map<string, Promise<string>>();
  /** Full reads of a network in flight: concurrent creations there share one. */
  private readonly loading = new Map<string, Promise<PortPlanView | undefined>>();
  private readonly flights = new Map<string, Flight>();
  /** Network reference (as requests name it) → its creations' turns (IN_FLIGHT). */
  private readonly slots = new Map<string, Slots>();
  /** Subnet id → the host number this instance allocates next when creations overlap (its own stretch). */
  private readonly cursors = new Map<string, number>();
  private sweeper?: NodeJS.Timeout;
  /**
   * Creations' transactions of one turn of the event loop go as one (txn-batch.ts). The guards under a network's
   * guard prefix (ports, subnets) and security groups' guards are put blind by every creation: shared in a batch.
   */
  private readonly batcher: TxnBatcher;

  constructor(
    private readonly store: Store,
    private readonly opts: CasOptions,
  ) {
    this.batcher = new TxnBatcher(store, (k) => k.startsWith(GUARD_PREFIX) && k.indexOf('/', GUARD_PREFIX.length) >= 0);
  }

  /** The network was deleted: its remembered view and name are useless. */
  forget(networkId: string, name?: string): void {
    this.drop(networkId);
    if (name !== undefined) this.networkIds.delete(name);
  }

  /** Stops watching every network (the store is closing). */
  close(): void {
    for (const id of [...this.views.keys()]) this.drop(id);
  }

  /** Forgets a network's view and stops watching it (only `view` if given: not one that replaced it). */
  private drop(netId: string, view?: PortPlanView): void {
    const v = this.views.get(netId);
    if (!v || (view && v !== view)) return;
    this.views.delete(netId);
    void v.watch?.cancel().catch(() => undefined);
    if (this.views.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  async create(body: unknown): Promise<Port> {
    const opts = writeOptions({ ...this.opts, txn: this.batcher.txn });
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
          let netId = (byName && this.networkIds.get(input.network)) || (await this.networkId(input.network));
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
            const view = known ?? (await this.network(netId, false, flight.count > 1));
            if (!view) throw notFound();
            view.used = Date.now();
            try {
              return { ...plan(view), speculative: known !== undefined };
            } catch {
              // Possibly an artefact of a stale view (an address freed elsewhere): decide on what the store holds.
            }
          }
          // A retry: this request's own checks, with the network's record and guard. The watched view is current
          // for the claims; read in full only when the structure moved (or nothing is remembered).
          let checks = await this.checks(netId, input, byName);
          if (checks.renamed) {
            // The remembered id is stale (the network was deleted or its name reused): resolve the name again.
            this.forget(netId, input.network);
            netId = await networkIdOf(this.store, input.network, 'network');
            checks = await this.checks(netId, input, byName);
            if (checks.renamed) throw notFound();
          }
          if (!checks.network) throw notFound();
          const known = this.views.get(netId);
          // Only a watched view is current for the claims (an unwatched one learns of others' claims by losing).
          const current =
            known?.watch !== undefined && known.network.modRevision === checks.network.modRevision && known.st.guardRev === checks.guardRev;
          const view = current ? known : await this.network(netId, false, true);
          if (!view) throw notFound();
          view.used = Date.now();
          if (byName) this.networkIds.set(input.network, netId);
          try {
            return plan(view, checks.macOwner);
          } catch (err) {
            // The view may still list ports deleted since (one written before claims, or a delete the watch has not
            // delivered yet): a refusal is decided on a full read made after it.
            if (!(err instanceof ModelError)) throw err;
            const full = await this.network(netId, true, true);
            if (!full) throw notFound();
            return plan(full, checks.macOwner);
          }
        },
        opts,
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

  /**
   * The next address of this instance's own stretch of a subnet, for creations overlapping here: the host after the
   * last one it allocated, while free; else (the stretch ran into addresses another server took, or its end) a new
   * stretch from a free host chosen at random. Servers allocating at once thus fill separate stretches and rarely
   * pick the same address (the claims make it safe when they do), and no creation scans what was allocated before.
   */
  private nextOfStretch(c: Cidr, gw: string, taken: { has(ip: string): boolean }, subnetId: string): string | undefined {
    const at = this.cursors.get(subnetId);
    if (at !== undefined) {
      const r = firstFreeFrom(c, gw, taken, at);
      // Only the very next host (or the one after a gateway) continues the stretch: anything further means others.
      if (r && r.host <= at + 1) {
        this.cursors.set(subnetId, r.host + 1);
        return r.ip;
      }
    }
    const r = randomFree(c, gw, taken, randomInt);
    if (r) this.cursors.set(subnetId, r.host + 1);
    return r?.ip;
  }

  /**
   * The network's id, read once for every creation that asks while the read is in flight (a thousand creations
   * starting together in a network this server does not know yet: one read, not IN_FLIGHT). Only a hint, like
   * networkIds: the name's claim is compared in the transaction.
   */
  private networkId(ref: string): Promise<string> {
    return singleFlight(this.resolving, ref, () => networkIdOf(this.store, ref, 'network'));
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
   * The network as the store holds it now, read in full once for every creation here that asks meanwhile, and
   * (`watch`) watched from then on (claims-watch.ts). Undefined when the network does not exist. `fresh`: not a read
   * that started before the caller asked (a refusal must be decided on what the store holds after the caller's failure).
   */
  private async network(netId: string, fresh: boolean, watch: boolean): Promise<PortPlanView | undefined> {
    const view = await singleFlight(this.loading, netId, () => this.load(netId), fresh);
    if (view && watch) this.watchView(netId, view);
    return view;
  }

  /** Starts keeping the view current, from the revision it was read at (gapless, whenever it starts). */
  private watchView(netId: string, view: PortPlanView): void {
    if (view.watch || this.views.get(netId) !== view) return;
    view.watch = watchClaims(
      this.store,
      netId,
      view.rev + 1,
      { owners: view.owners, commits: view.commits, freed: () => view.low.clear() },
      () => this.drop(netId, view),
    );
  }

  private async load(netId: string): Promise<PortPlanView | undefined> {
    const snap = await snapshotNet(this.store, netId, [{ prefix: ipClaimsPrefix(netId) }]);
    if (!snap.network) {
      this.drop(netId);
      return undefined;
    }
    const owners = withClaims(netId, ipOwners(snap.st), snap.extra[0]!);
    const view: PortPlanView = {
      network: snap.network,
      st: snap.st,
      owners,
      macs: macOwners(snap.st),
      low: new Map(),
      commits: new Map(),
      used: Date.now(),
      rev: snap.revision,
    };
    // Replaces an older view only if it is no newer (two loads may finish out of order).
    const old = this.views.get(netId);
    if (old && old.network.modRevision > view.network.modRevision) return view;
    this.drop(netId);
    this.views.set(netId, view);
    this.sweeper ??= setInterval(() => this.sweep(), IDLE_MS / 2).unref();
    return view;
  }

  /** Forgets (and stops watching) the networks no creation used lately. */
  private sweep(): void {
    const now = Date.now();
    for (const [id, v] of this.views) if (now - v.used > IDLE_MS) this.drop(id, v);
  }

  /** A retry's own reads: its name (free?), its network's name (still that network?) and the MAC it asks for. */
  private async checks(netId: string, input: PortInput, byName: boolean): Promise<Checks> {
    const { results } = await this.store.read([
      { key: nameKey('port', input.name) },
      { key: nameKey('network', input.network) },
      { key: macClaimKey(netId, input.mac ?? 'none') },
      { key: networkKey(netId) },
      { key: guardKey(netId) },
    ]);
    const [name, netClaim, mac, net, guard] = results as [KeyValue[], KeyValue[], KeyValue[], KeyValue[], KeyValue[]];
    const renamed = byName && (netClaim[0] === undefined || decodeClaim(netClaim[0].value).id !== netId);
    if (!renamed && name[0]) throw conflict('name', `a port named ${input.name} already exists`);
    return {
      renamed,
      ...(input.mac !== undefined && mac[0] ? { macOwner: mac[0].value } : {}),
      ...(net[0] ? { network: net[0] } : {}),
      guardRev: guard[0]?.modRevision ?? 0,
    };
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
    const net = (view.net ??= decodeNetwork(nkv.value));
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
    type Pick = (c: Cidr, gw: string, taken: { has(ip: string): boolean }, subnetId: string) => string | undefined;
    const lowest: Pick = (c, gw, taken, subnetId) => {
      // From the view's hint: every address below it is taken (until the watch sees one freed).
      const r = firstFreeFrom(c, gw, taken, view.low.get(subnetId) ?? 0);
      if (r && !picked.has(r.ip)) view.low.set(subnetId, r.host);
      return r?.ip;
    };
    const pick: Pick =
      o.attempt > 0
        ? // After a lost race: uniformly among the free ones, so that several losers rarely chase one address again.
          (c, gw, taken) => randomFree(c, gw, taken, randomInt)?.ip
        : o.flight.count > 1
          ? (c, gw, taken, subnetId) => this.nextOfStretch(c, gw, taken, subnetId)
          : lowest;
    const fixedIps = assignIps(input.fixedIps, st, net, { owners, describe: describeOwner, pick });
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
      landed: () => createdAs(this.store, 'port', p.name, id, (c) => portKey(c.networkId ?? '', id), decodePort),
      committed: (revision) => {
        withRevision(p, revision);
        // Into the view planned from and the one remembered now, if another read replaced it meanwhile.
        for (const v of new Set([view, this.views.get(net.id)])) {
          if (!v) continue;
          for (const f of fixedIps) {
            v.owners.set(f.ip, `port ${p.name}`);
            v.commits.set(f.ip, revision);
          }
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
