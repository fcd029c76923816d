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
import { claimOwner, claimPort } from './port-claims.js';
import { givenIdCompares } from './port-ids.js';
import { assignIps } from './port-ips.js';
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
  /** Who holds each address: the snapshot's holders plus every claim read since, plus this instance's creations. */
  owners: Map<string, string>;
  macs: Map<string, string>;
}

/** This instance's creations in flight in one network: addresses they picked are left to them by the others. */
interface Flight {
  count: number;
  picked: Set<string>;
}

/** How fresh a view is: remembered (no read now), claims re-read, or the whole network re-read. */
type Freshness = 'remembered' | 'claims' | 'full';

export class PortCreator {
  /**
   * Network name → id as last seen. Only a hint that saves a round trip: every use compares the name's claim in the
   * transaction and resolves again when it no longer names that network.
   */
  private readonly networkIds = new Map<string, string>();
  private readonly views = new Map<string, PortPlanView>();
  private readonly flights = new Map<string, Flight>();
  /** Subnet id → the host number this instance starts allocating from when creations overlap (pickIpFrom). */
  private readonly starts = new Map<string, number>();
  private readonly startOf = (subnetId: string, size: number): number => {
    let s = this.starts.get(subnetId);
    if (s === undefined || s >= size) this.starts.set(subnetId, (s = size > 0 ? randomInt(size) : 0));
    return s;
  };

  constructor(
    private readonly store: Store,
    private readonly opts: CasOptions,
  ) {}

  /** The network changed in a way that makes the remembered view useless (deleted, or a port of it deleted here). */
  forget(networkId: string, name?: string): void {
    this.views.delete(networkId);
    if (name !== undefined) this.networkIds.delete(name);
  }

  async create(body: unknown): Promise<Port> {
    const input = parsePortInput(body);
    const id = input.id ?? randomUUID();
    const byName = !UUID_RE.test(input.network);
    const mine: { flight?: Flight; netId?: string; picked: string[] } = { picked: [] };
    try {
      return await runCas(
        this.store,
        async (attempt) => {
          // A given id (a VIF's uuid) must be no other object's.
          const idCmps = input.id === undefined ? [] : await givenIdCompares(this.store, id);
          // The groups are read on every attempt (none when the port joins none): their revisions are compared.
          const sgs = await resolveGroups(this.store, input.securityGroups);
          let netId = (byName && this.networkIds.get(input.network)) || (await networkIdOf(this.store, input.network, 'network'));
          const flight = this.join(netId, mine);
          const spread = attempt > 0 || flight.count > 1;
          const plan = (view: PortPlanView): Plan<Port> => {
            const p = this.planPort(input, id, view, { spread, exclude: flight.picked, sgs, idCmps, byName });
            for (const f of p.result.fixedIps) {
              flight.picked.add(f.ip);
              mine.picked.push(f.ip);
            }
            return p;
          };
          // First try: plan from this instance's view of the network without reading; its compares reject it if
          // anything it relied on changed. On a planning error too, decide again from the store.
          const known = attempt === 0 ? this.views.get(netId) : undefined;
          if (known) {
            try {
              return { ...plan(known), speculative: true };
            } catch {
              // Possibly an artefact of a stale view (an address freed elsewhere): decide on what the store holds.
            }
          }
          let read = await this.read(netId, input, byName, this.views.get(netId));
          if (read === 'renamed') {
            // The remembered id is stale (the network was deleted or its name reused): resolve the name again.
            this.forget(netId, input.network);
            netId = await networkIdOf(this.store, input.network, 'network');
            read = await this.read(netId, input, byName, undefined);
            if (read === 'renamed') throw invalid('network', `network: network ${input.network} not found`);
          }
          if (byName) this.networkIds.set(input.network, netId);
          try {
            return plan(read.view);
          } catch (err) {
            // A view re-read only in part may still list ports deleted since: only a full read is the last word.
            if (read.freshness === 'full') throw err;
            const full = await this.read(netId, input, byName, undefined);
            if (full === 'renamed') throw invalid('network', `network: network ${input.network} not found`);
            return plan(full.view);
          }
        },
        this.opts,
      );
    } finally {
      const f = mine.flight;
      if (f) {
        for (const ip of mine.picked) f.picked.delete(ip);
        if (--f.count === 0 && this.flights.get(mine.netId!) === f) this.flights.delete(mine.netId!);
      }
    }
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
   * Reads what planning needs, in one round trip: with a remembered view, the guard, the network record, the names
   * and the address claims; if the guard moved since (or with no view), the whole network as well.
   */
  private async read(
    netId: string,
    input: PortInput,
    byName: boolean,
    known: PortPlanView | undefined,
  ): Promise<{ view: PortPlanView; freshness: Freshness } | 'renamed'> {
    const extra: ReadOp[] = [
      { key: nameKey('port', input.name) },
      { key: nameKey('network', input.network) },
      { prefix: ipClaimsPrefix(netId) },
      { key: macClaimKey(netId, input.mac ?? 'none') },
    ];
    let network: KeyValue | undefined;
    let st: NetState;
    let rest: KeyValue[][];
    let freshness: Freshness = 'full';
    const light = known && (await this.store.read([{ key: networkKey(netId) }, { key: guardKey(netId) }, ...extra]));
    if (light && light.results[0]![0]?.modRevision === known.network.modRevision && (light.results[1]![0]?.modRevision ?? 0) === known.st.guardRev) {
      network = light.results[0]![0];
      st = known.st;
      rest = light.results.slice(2);
      freshness = 'claims';
    } else {
      const snap = await snapshotNet(this.store, netId, extra);
      network = snap.network;
      st = snap.st;
      rest = snap.extra;
    }
    const [nameTaken, netClaim, ipClaims, macClaim] = rest as [KeyValue[], KeyValue[], KeyValue[], KeyValue[]];
    if (byName && (netClaim[0] === undefined || decodeClaim(netClaim[0].value).id !== netId)) return 'renamed';
    if (!network) throw invalid('network', `network: network ${input.network} not found`);
    if (nameTaken.length > 0) throw conflict('name', `a port named ${input.name} already exists`);
    const owners = ipOwners(st);
    const prefix = ipClaimsPrefix(netId);
    for (const kv of ipClaims) owners.set(kv.key.slice(prefix.length), claimOwner(kv.value));
    const macs = macOwners(st);
    if (input.mac !== undefined && macClaim[0]) macs.set(input.mac, claimOwner(macClaim[0].value));
    const view: PortPlanView = { network, st, owners, macs };
    this.views.set(netId, view);
    return { view, freshness };
  }

  /**
   * The transaction creating a port in a network as `view` shows it; once committed, `view` learns the new
   * port's address and MAC, so that the next creation there can plan from it without a read.
   */
  private planPort(
    input: PortInput,
    id: string,
    view: PortPlanView,
    o: { spread: boolean; exclude: ReadonlySet<string>; sgs: ResolvedGroup[]; idCmps: Compare[]; byName: boolean },
  ): Plan<Port> {
    const { st } = view;
    const nkv = view.network;
    const net = decodeNetwork(nkv.value);
    if (input.mac !== undefined && view.macs.has(input.mac)) {
      throw conflict('mac', `MAC ${input.mac} is already used by ${view.macs.get(input.mac)} in network ${net.name}`);
    }
    const mac = input.mac ?? generateMac(new Set(view.macs.keys()));
    let owners: ReadonlyMap<string, string> = view.owners;
    if (o.exclude.size > 0) {
      // Addresses picked by this instance's other creations in flight: left to them, unless asked for explicitly
      // (then the claim decides, and the loser gets a clear conflict on retry).
      const m = new Map(view.owners);
      const asked = new Set((input.fixedIps ?? []).map((f) => f.ip).filter((ip) => ip !== undefined));
      for (const ip of o.exclude) if (!m.has(ip) && !asked.has(ip)) m.set(ip, 'a port being created');
      owners = m;
    }
    const fixedIps = assignIps(input.fixedIps, st, net, { owners, ...(o.spread ? { startOf: this.startOf } : {}) });
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
        for (const f of fixedIps) view.owners.set(f.ip, `port ${p.name}`);
        view.macs.set(mac, `port ${p.name}`);
      },
    };
  }
}
