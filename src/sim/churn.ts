/**
 * The churn: port creations, deletions and VM migrations (4:3:3) at a steady rate, each one's convergence measured
 * on the chassis that watch its network, while src/sim/churn-meter.ts measures what it all costs. Apart from the
 * harness because it is the run's one long phase, with an operation of each kind that reads on its own.
 */
import { performance } from 'node:perf_hooks';
import type { Topology } from '../model/repo.js';
import { netPrefix } from '../model/keys.js';
import { startChurnMeter, type ChurnMeasures, type ChurnMeter } from './churn-meter.js';
import type { Convergence, Probes } from './probes.js';
import type { Fleet, RunContext } from './run-context.js';
import { settle, sleep } from './settle.js';
import type { SimChassis } from './sim-chassis.js';

/** Convergence samples (ms) and counts of the churn's operations. */
export interface ChurnTally {
  creates: number[];
  /** The create API call's own time (ms). */
  createApi: number[];
  deletes: number[];
  migrations: number[];
  missed: { create: number; delete: number; migrate: number };
  /** Chassis that had to see the creations, and the migrations, summed over the operations. */
  interestedCreate: number;
  interestedMigrate: number;
}

export interface ChurnOutcome extends ChurnTally {
  /** Operations started. */
  ops: number;
  measures: ChurnMeasures;
}

/** What one operation works on; `made` and `serial` are shared by all of them. */
interface ChurnOps {
  run: RunContext;
  fleet: Fleet;
  topo: Topology;
  tally: ChurnTally;
  /** Ports the churn created and has not deleted, oldest first, with their current host. */
  made: { name: string; network: string; host: SimChassis }[];
  serial: number;
  /** Chassis watching a network now. */
  watching: (net: string) => SimChassis[];
  slowOp: ChurnMeter['slowOp'];
}

export async function runChurn(run: RunContext, fleet: Fleet, topo: Topology): Promise<ChurnOutcome> {
  const { o, log } = run;
  const { chassis } = fleet;
  const tally: ChurnTally = {
    creates: [],
    createApi: [],
    deletes: [],
    migrations: [],
    missed: { create: 0, delete: 0, migrate: 0 },
    interestedCreate: 0,
    interestedMigrate: 0,
  };
  const made: ChurnOps['made'] = [];
  const watching = (net: string) => chassis.filter((c) => c.subscription.prefixes().includes(netPrefix(netId(c, net) ?? '\0')));
  const meter = await startChurnMeter(run, fleet);
  const rate = o.churnRate ?? 10;
  const total = Math.round((o.churnSeconds ?? 20) * rate);
  const s: ChurnOps = { run, fleet, topo, tally, made, serial: 0, watching, slowOp: meter.slowOp };
  const inflight: Promise<void>[] = [];
  for (let k = 0; k < total; k++) {
    const kind = ['create', 'create', 'delete', 'migrate', 'create', 'delete', 'migrate', 'create', 'delete', 'migrate'][k % 10]!;
    inflight.push(
      (async () => {
        if (kind === 'create' || made.length === 0) await create(s, k);
        else if (kind === 'delete') await remove(s);
        else await migrate(s, k);
      })().catch((err) => log(`churn op failed: ${(err as Error).message}`)),
    );
    await sleep(1000 / rate);
  }
  await Promise.all(inflight);
  const measures = await meter.stop();
  await settle(chassis);
  return { ops: total, ...tally, measures };
}

/** A port created on a chassis of the plan (never the one that will die) and bound there. */
async function create(s: ChurnOps, k: number): Promise<void> {
  const { o, plan, log } = s.run;
  const { chassis, lo, size, probes } = s.fleet;
  const { topo, made, watching, slowOp } = s;
  const { createApi, creates, missed } = s.tally;
  const hx = lo + ((k * 7919) % size);
  const host = chassis[hx - lo]!;
  if (host === chassis[size - 1]) return;
  const network = plan.networksOf(hx)[k % plan.netsPerChassis]!;
  const name = `c${o.shard ? `${o.shard.index}-` : ''}${s.serial++}`;
  const id = netIdByName(chassis, network);
  const who = watching(network);
  s.tally.interestedCreate += who.length;
  const t0 = performance.now();
  const conv = waitPort(probes, who, id, name, host.name, t0);
  const p = await topo.createPort({ name, network });
  createApi.push(performance.now() - t0);
  await host.plug(name);
  const r = await conv(p.id);
  if (r.missed) {
    missed.create++;
    log(`creation of ${name} on ${host.name} not seen by ${r.missedNames.join(', ')}`);
  } else {
    creates.push(r.max);
    slowOp('create', name, t0, r.max);
  }
  made.push({ name, network, host });
}

/** The oldest port the churn made, unbound and deleted. */
async function remove(s: ChurnOps): Promise<void> {
  const { chassis, probes } = s.fleet;
  const { topo, made, watching, slowOp } = s;
  const { deletes, missed } = s.tally;
  const victim = made.shift()!;
  const id = netIdByName(chassis, victim.network);
  const who = watching(victim.network);
  const t0 = performance.now();
  const port = chassis.find((c) => c === victim.host)!.view.networks.get(id!)?.ports;
  const portId = [...(port?.values() ?? [])].find((ps) => ps.port.name === victim.name)?.port.id;
  const gone = probes.wait(who, (c) => !c.view.networks.get(id!)?.ports.has(portId!), t0);
  await victim.host.unplug(victim.name);
  await topo.deletePort(victim.name);
  const r = await gone;
  if (r.missed) missed.delete++;
  else {
    deletes.push(r.max);
    slowOp('delete', victim.name, t0, r.max);
  }
}

/** The oldest port the churn made, moved to another live chassis. */
async function migrate(s: ChurnOps, k: number): Promise<void> {
  const { log } = s.run;
  const { chassis, size, probes } = s.fleet;
  const { made, watching, slowOp } = s;
  const { migrations, missed } = s.tally;
  const m = made.shift()!;
  const from = m.host;
  // Any other live chassis but the one that will die (offsets 1 … C-2 never land on `from`).
  const to = chassis[(chassis.indexOf(from) + 1 + ((k * 31) % (size - 2))) % (size - 1)]!;
  const id = netIdByName(chassis, m.network)!;
  const portId = [...(from.view.networks.get(id)?.ports.values() ?? [])].find((ps) => ps.port.name === m.name)?.port.id;
  const who = new Set([...watching(m.network), to]);
  s.tally.interestedMigrate += who.size;
  const t0 = performance.now();
  // Reachable again: every chassis still watching the network sees the port on its new host.
  const conv = probes.wait(
    who,
    (c) =>
      (c === from && !c.subscription.prefixes().includes(netPrefix(id))) ||
      c.view.networks.get(id)?.ports.get(portId!)?.binding?.chassis === to.name,
    t0,
  );
  await from.unplug(m.name);
  await to.plug(m.name);
  const r = await conv;
  if (r.missed) {
    missed.migrate++;
    const views = r.missedNames.map((n) => {
      const c = chassis.find((x) => x.name === n)!;
      const ps = c.view.networks.get(id)?.ports.get(portId!);
      return `${n}: watching ${c.subscription.prefixes().includes(netPrefix(id))}, port ${ps ? 'in view' : 'absent'}, bound to ${ps?.binding?.chassis}`;
    });
    log(`migration of ${m.name} ${from.name} → ${to.name} not seen by ${views.join('; ')}`);
  } else {
    migrations.push(r.max);
    slowOp('migrate', m.name, t0, r.max);
  }
  made.push({ ...m, host: to });
}

/** Network id of a network name, from any chassis's view that has it. */
function netIdByName(chassis: SimChassis[], name: string): string | undefined {
  for (const c of chassis) {
    const id = netId(c, name);
    if (id) return id;
  }
  return undefined;
}

function netId(c: SimChassis, name: string): string | undefined {
  for (const n of c.view.networks.values()) if (n.network.name === name) return n.network.id;
  return undefined;
}

/** A new port is reachable on every interested chassis: in its view, bound to its host (the flows follow). */
function waitPort(probes: Probes, who: SimChassis[], networkId: string | undefined, name: string, host: string, t0: number) {
  let resolveId: (id: string) => void;
  const idP = new Promise<string>((r) => (resolveId = r));
  const conv = idP.then((portId) =>
    probes.wait(who, (c) => c.view.networks.get(networkId!)?.ports.get(portId)?.binding?.chassis === host, t0),
  );
  return (portId: string): Promise<Convergence> => {
    resolveId(portId);
    return conv;
  };
}
