/**
 * One of three etcd members hangs (SIGSTOP: no RST, no FIN, its sockets stay open) under running agents, the member
 * their lease keep-alives go to: a member frozen, or cut off by a firewall that drops. Each agent's store probe is its
 * chassis lease's keep-alive, every TTL/3 with a 5-s lease here; a keep-alive waits a third of the TTL for its answer
 * and the next goes to another member (src/store/etcd.ts, keepAliveDeadlineMs). So through 15 s of hang (3 TTLs) no
 * agent loses its lease — no chassis key lapses or changes lease, peers never stop tunnelling to it — the VMs keep
 * pinging, and a VM plugged meanwhile is bound and programmed through the members that answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chassisKey } from '../../src/model/keys.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { stopProcess } from '../helpers/etcd.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** LeaseKeepAlive streams started on a member so far, by etcd's own counter: where agents' keep-alives go. */
async function keepAliveStreamsStarted(clientUrl: string): Promise<number> {
  const text = await (await fetch(`${clientUrl}/metrics`)).text();
  return Number(/^grpc_server_started_total\{[^}]*grpc_method="LeaseKeepAlive"[^}]*\} (\S+)/m.exec(text)?.[1] ?? 0);
}

describe('an etcd member hangs under running agents', () => {
  let c: Cluster;
  const ports: Record<string, PortInfo> = {};
  let healthy: Store | undefined;

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 2, etcdMembers: 3 });
    await c.network('net-a', '10.1.0.0/24');
    for (const [name, ip] of [
      ['a1', '10.1.0.11'],
      ['a2', '10.1.0.12'],
      ['a3', '10.1.0.13'],
    ] as const)
      ports[name] = await c.port(name, 'net-a', ip);
    await c.vm('hv1', 'a1', ports.a1!);
    await c.vm('hv2', 'a2', ports.a2!);
    await c.pingUntil('a1', ports.a2!.ip, 10_000);
  }, 120_000);

  afterAll(async () => {
    await healthy?.close().catch(() => undefined);
    await c?.down();
  });

  it('no agent loses its chassis lease, VMs keep pinging, and a VM plugged meanwhile is bound and programmed', async () => {
    const before = {
      hv1: (await c.agentStatus('hv1')).chassisRegistration,
      hv2: (await c.agentStatus('hv2')).chassisRegistration,
    };
    // The member that hangs is one the agents' keep-alives go to (each agent's first keep-alive comes TTL/3 after
    // its registration).
    let open: number[] = [];
    for (const t = Date.now(); Date.now() - t < 10_000; await sleep(200)) {
      open = await Promise.all(c.etcd.members.map((m) => keepAliveStreamsStarted(m.clientUrl)));
      if (open.filter((n) => n > 0).length >= 1 && Date.now() - t > 2_000) break;
    }
    const vi = open.indexOf(Math.max(...open));
    expect(open[vi]).toBeGreaterThan(0);
    const victim = c.etcd.members[vi]!;
    healthy = await openStore(`etcd://${c.etcd.endpoints.filter((_, i) => i !== vi).join(',')}`);
    const leaseOf = async (h: string) => (await healthy!.get(chassisKey(h)))?.lease;

    await stopProcess(victim.pid);
    const t0 = Date.now();
    try {
      // During the hang: a VM of an existing port plugged on hv2 (its binding is a store write).
      await c.vm('hv2', 'a3', ports.a3!, 24);
      const plugged = Date.now() - t0;
      expect(await c.pingUntil('a3', ports.a1!.ip, 10_000)).toBeGreaterThanOrEqual(0);
      // Hold the hang for 3 lease TTLs, checking all along that neither chassis key lapsed or changed lease.
      while (Date.now() - t0 < 15_000) {
        for (const h of ['hv1', 'hv2'] as const) expect(await leaseOf(h)).toBe(before[h].lease);
        expect(await c.ping('a1', ports.a2!.ip)).toBe(true);
        await sleep(500);
      }
      console.log(
        `FIGURE etcd-member-hang: member ${vi} (${open[vi]} keep-alive streams) hung 15 s; a VM plugged meanwhile installed ${plugged} ms after the hang`,
      );
    } finally {
      process.kill(victim.pid, 'SIGCONT');
    }
    // The same lease all along (a probe that failed meanwhile may have written the key again, on that same lease).
    for (const h of ['hv1', 'hv2'] as const) expect((await c.agentStatus(h)).chassisRegistration.lease).toBe(before[h].lease);
    expect(await c.ping('a2', ports.a3!.ip)).toBe(true);
  }, 120_000);
});
