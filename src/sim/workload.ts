/**
 * The scale harness's workload: which networks, routers and ports exist and which chassis hosts which port.
 * Deterministic and scale-invariant: chassis come in tenant blocks of 4 sharing 8 networks, each chassis hosting
 * ports of 5 of its block's networks (so a network is hosted by 2 or 3 chassis, 2.5 on average), and two blocks in
 * five have a router joining 4 of their networks. A chassis's neighbourhood (networks, their ports and routers)
 * is then the same at 100 and at 1,000 chassis — which is what lets the harness compare one chassis's state
 * across cluster sizes. The defaults are the issue's: 1,000 chassis → 2,000 networks, 20,000 ports, 100 routers.
 */
import { Topology } from '../model/repo.js';
import type { Store } from '../store/types.js';

export interface WorkloadParams {
  chassis: number;
  /** Ports bound at bring-up per chassis (default 20). */
  portsPerChassis?: number;
  /** Networks each chassis hosts ports of (default 5; a block of 4 chassis shares 2 per chassis). */
  netsPerChassis?: number;
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

const BLOCK = 4;

export function planWorkload(p: WorkloadParams): Plan {
  const per = p.netsPerChassis ?? 5;
  const perBlock = Math.max(per, Math.round((BLOCK * per) / 2.5));
  const blocks = Math.ceil(p.chassis / BLOCK);
  const networks = Array.from({ length: blocks * perBlock }, (_, i) => netName(i));
  const networksOf = (c: number): string[] => {
    const b = Math.floor(c / BLOCK);
    const i = c % BLOCK;
    return Array.from({ length: per }, (_, k) => netName(b * perBlock + ((i * per + k) % perBlock)));
  };
  const routers = new Map<string, string[]>();
  for (let b = 0; b < blocks; b++)
    if (b % 5 === 0 || b % 5 === 2)
      routers.set(
        `r${b}`,
        Array.from({ length: Math.min(4, perBlock) }, (_, k) => netName(b * perBlock + ((k * 2) % perBlock))),
      );
  const ports: PlannedPort[] = [];
  const nPorts = p.portsPerChassis ?? 20;
  for (let j = 0; j < nPorts; j++)
    for (let c = 0; c < p.chassis; c++) ports.push({ name: `p${c}-${j}`, network: networksOf(c)[j % per]!, chassis: c });
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
