/**
 * The scale harness's workload: which networks, routers and ports exist and which chassis hosts which port.
 * Deterministic and scale-invariant: chassis c hosts ports of networks (5c … 5c+4) mod N, so a chassis's
 * neighbourhood (networks, their ports and routers) has the same shape at 100 and at 1,000 chassis — which is
 * what lets the harness compare one chassis's state across cluster sizes.
 */
import { Topology } from '../model/repo.js';
import type { Store } from '../store/types.js';

export interface WorkloadParams {
  chassis: number;
  /** Networks (default 2 per chassis). */
  networks?: number;
  /** Ports bound at bring-up (default 20 per chassis). */
  ports?: number;
  /** Networks each chassis hosts ports of (default 5). */
  netsPerChassis?: number;
  /** One router per this many networks (default 20), joining `netsPerRouter` of them (default 4). */
  networksPerRouter?: number;
  netsPerRouter?: number;
}

export interface PlannedPort {
  name: string;
  network: string;
  chassis: number;
}

export interface Plan {
  chassis: number;
  networks: string[];
  /** Router name → the networks it joins (one subnet each). */
  routers: Map<string, string[]>;
  ports: PlannedPort[];
  netsPerChassis: number;
  /** Networks chassis c hosts ports of. */
  networksOf(c: number): string[];
}

export const netName = (i: number): string => `n${i}`;
/** Subnet of network i: 10.x.y.0/24, unique up to 65,536 networks (routers join several: no overlaps). */
export const subnetCidr = (i: number): string => `10.${(i >> 8) & 255}.${i & 255}.0/24`;

export function planWorkload(p: WorkloadParams): Plan {
  const nNets = p.networks ?? 2 * p.chassis;
  const nPorts = p.ports ?? 20 * p.chassis;
  const per = p.netsPerChassis ?? 5;
  const netsPerRouter = p.netsPerRouter ?? 4;
  const networks = Array.from({ length: nNets }, (_, i) => netName(i));
  const networksOf = (c: number): string[] => Array.from({ length: per }, (_, k) => netName((c * per + k) % nNets));
  const routers = new Map<string, string[]>();
  const block = p.networksPerRouter ?? 20;
  const step = Math.max(1, Math.floor(block / netsPerRouter));
  for (let r = 0; (r + 1) * block <= nNets; r++)
    routers.set(
      `r${r}`,
      Array.from({ length: netsPerRouter }, (_, k) => netName(r * block + k * step)),
    );
  const ports: PlannedPort[] = [];
  for (let i = 0; i < nPorts; i++) {
    const c = i % p.chassis;
    const j = Math.floor(i / p.chassis);
    ports.push({ name: `p${c}-${j}`, network: networksOf(c)[j % per]!, chassis: c });
  }
  return { chassis: p.chassis, networks, routers, ports, netsPerChassis: per, networksOf };
}

/** Runs `fn` over items with at most `n` in flight. */
export async function pool<T>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/**
 * Writes the plan's logical topology through the model (the API's own code): networks with a subnet each,
 * routers with their interfaces, then the ports. Ports are created many at a time but ordered round-robin over
 * networks, so concurrent creations rarely meet in one network (one guard key per network serialises them).
 */
export async function buildTopology(store: Store, plan: Plan, concurrency = 32): Promise<{ portsPerSecond: number }> {
  const topo = new Topology(store, { maxAttempts: 1000 });
  await pool(plan.networks, concurrency, async (name, i) => {
    await topo.createNetwork({ name });
    await topo.createSubnet({ name: `${name}-s`, network: name, cidr: subnetCidr(i) });
  });
  await pool([...plan.routers], Math.min(concurrency, 8), async ([name, nets]) => {
    await topo.createRouter({ name });
    for (const n of nets) await topo.attachSubnet(name, { subnet: `${n}-s` });
  });
  const byNet = new Map<string, PlannedPort[]>();
  for (const p of plan.ports) (byNet.get(p.network) ?? byNet.set(p.network, []).get(p.network)!).push(p);
  const order: PlannedPort[] = [];
  const queues = [...byNet.values()];
  for (let k = 0; order.length < plan.ports.length; k++) for (const q of queues) if (q[k]) order.push(q[k]!);
  const t0 = performance.now();
  await pool(order, concurrency, async (p) => {
    await topo.createPort({ name: p.name, network: p.network });
  });
  return { portsPerSecond: plan.ports.length / ((performance.now() - t0) / 1000) };
}
