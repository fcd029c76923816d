/**
 * A fresh host whose VMs are plugged before its agent starts (etcd store, reachable): the start binds them, loads
 * their network while binding, and programs the switch. The network's topology still loading once the VIFs are
 * bound is no store outage: the agent must neither warn "store unreachable" nor start its API (and load its modules)
 * before the first flows, as it does when it really waits for the store (fault-store-outage.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';

describe('agent start on a fresh host with VMs already plugged', () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await Cluster.up({ hosts: 2, agents: false });
    await c.startAgent('hv2');
  }, 60_000);
  afterAll(async () => {
    await c?.down();
  });

  it('binds them and programs the switch with no "store unreachable" and the API after the first flows', async () => {
    await c.network('busy', '10.9.0.0/24');
    // A network with many ports to read: its load is still going on when the VIFs are bound.
    const ports = await Promise.all(Array.from({ length: 40 }, (_, i) => c.port(`b${i}`, 'busy', `10.9.0.${10 + i}`)));
    await c.vm('hv2', 'b0', ports[0]!);
    for (const p of ports.slice(1, 4)) await c.sb.addVm('hv1', p.name, { portId: p.name, mac: p.mac, ip: `${p.ip}/24` });
    await c.startAgent('hv1');
    for (const p of ports.slice(1, 4)) await c.waitInstalled(p.name);
    expect(await c.ping('b1', ports[0]!.ip, 3)).toBe(true);

    const lines = readFileSync(join(c.sb.runDir, 'hv1', 'agent.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map(
        (l) =>
          JSON.parse(l) as {
            level: number;
            time: number;
            msg: string;
            ms?: Record<string, number>;
            timeOrigin?: number;
            cpuMs?: number;
            lateBuiltins?: string[];
            port?: string;
            etcdVersion?: string;
          },
      );
    // The one warning a start may give on this machine: its etcd release (3.4.23) is a slow one (etcd-server-version.ts).
    expect(lines.filter((l) => l.level >= 40 && l.etcdVersion === undefined).map((l) => l.msg)).toEqual([]);
    const start = lines.find((l) => l.msg.startsWith('start timeline'))!;
    const timeline = start.ms!;
    expect(timeline['VIFs in the view']).toBeLessThan(timeline['first flows on the switch']!);
    // With the CPU time the start cost (what bench:agent-start compares builds by): some, and never more than two
    // cores could give in the time it took.
    expect(start.cpuMs).toBeGreaterThan(0);
    expect(start.cpuMs).toBeLessThan(2 * timeline['first flows on the switch']!);
    // Every built-in the start needs was loaded by the boot, with Node's code cache, before its V8 flags made that
    // cache unusable: none compiled from source on the way to the first flows (node:timers/promises was, 0.5 ms).
    expect(start.lateBuiltins).toEqual([]);
    // The VMs' bindings are announced once the host's own first flows are in (not before, as for a VIF plugged
    // later), and the first computation did not wait for their writes.
    const firstFlowsAt = start.timeOrigin! + timeline['first flows on the switch']!;
    const bound = lines.filter((l) => l.msg === 'port bound to this chassis');
    expect(bound.map((l) => l.port).sort()).toEqual(
      ports
        .slice(1, 4)
        .map((p) => p.name)
        .sort(),
    );
    for (const l of bound) expect(l.time).toBeGreaterThanOrEqual(Math.floor(firstFlowsAt));
    // The API comes once the flows are on the switch, after the timeline was written: not in it.
    expect(Object.keys(timeline)).not.toContain('API listening');
  }, 60_000);
});
