/**
 * One hypervisor cut off from the store alone, on real OVS and etcd (2 hypervisors, one network): a black hole between
 * hv2's agent and etcd (test/helpers/tcp-gate.ts), its tunnels fine, under `ping -i 0.05` from hv1's VM to hv2's.
 *
 * - With one lease (the default: presence TTL = lease TTL, 3 s here), a cut longer than the TTL makes hv1 withdraw
 *   hv2 as dead: pings are lost until the cut heals.
 * - With `--presence-ttl-seconds 30`, hv2's chassis key is on a lease of its own: the same cut loses nothing, the key
 *   is never deleted, and when the store answers hv2 takes a new roles lease (its old one lapsed) while the key
 *   stays on its presence lease. The same through a crash and restart of hv2's agent while it is cut off (it starts
 *   from its cache; its key moves onto the new agent's presence lease once the store answers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chassisKey, CHASSIS_PREFIX } from '../../src/model/keys.js';
import { openStore } from '../../src/store/index.js';
import type { Store, WatchEvent } from '../../src/store/types.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { expectRecomputeEqual } from '../helpers/recompute.js';
import { TcpGate } from '../helpers/tcp-gate.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TTL = 3;
const PRESENCE = 30;
const CUT_S = 8;

async function until(what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond().catch(() => false))) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

describe('a hypervisor cut off from the store alone', { timeout: 120_000 }, () => {
  let c: Cluster;
  let gate: TcpGate;
  let store: Store;
  const events: WatchEvent[] = [];
  const ports: Record<string, PortInfo> = {};
  const viaGate = () => `etcd://${gate.address}`;
  const status = (h: string) => c.agentStatus(h);
  const registration = async () => (await status('hv2')).chassisRegistration as { lease: string; rolesLease?: string };

  /** Pings from a1 (hv1) to a2 (hv2) every 50 ms while hv2 is cut off for CUT_S (and `during` runs); the lost count. */
  async function lostDuringCut(during: () => Promise<void> = async () => undefined): Promise<{ sent: number; lost: number }> {
    const count = Math.round((CUT_S + 4) / 0.05);
    const run = c.sb.exec('a1', ['ping', '-n', '-q', '-i', '0.05', '-c', String(count), '-W', '1', ports.a2!.ip], 120_000);
    await sleep(1_000);
    gate.cut();
    await during();
    await sleep(CUT_S * 1000);
    gate.heal();
    const out = (await run).stdout;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    if (!m) throw new Error(`no ping summary: ${out}`);
    return { sent: Number(m[1]), lost: Number(m[1]) - Number(m[2]) };
  }

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 2, agents: false });
    gate = await TcpGate.open(c.etcd.url.replace(/^etcd:\/\//, ''));
    const args = ['--lease-ttl-seconds', String(TTL)];
    await c.startAgent('hv1', { args });
    await c.startAgent('hv2', { args, store: viaGate() });
    await c.network('net-a', '10.1.0.0/24');
    ports.a1 = await c.port('a1', 'net-a', '10.1.0.11');
    ports.a2 = await c.port('a2', 'net-a', '10.1.0.12');
    await c.vm('hv1', 'a1', ports.a1);
    await c.vm('hv2', 'a2', ports.a2);
    expect(await c.pingUntil('a1', ports.a2.ip, 10_000)).toBeGreaterThanOrEqual(0);
    store = await openStore(c.storeUrl);
    store.watch(CHASSIS_PREFIX, undefined, { onBatch: (b) => events.push(...b.events) });
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await gate?.close();
    await c?.down();
  });

  it(`one lease (the default): a cut longer than the TTL withdraws hv2 as dead, and its VM is lost meanwhile`, async () => {
    const r = await registration();
    expect(r.rolesLease).toBeUndefined();
    events.length = 0;
    const { sent, lost } = await lostDuringCut();
    console.log(`one lease, hv2 cut off ${CUT_S} s (lease TTL ${TTL} s): ${lost}/${sent} pings lost`);
    expect(lost).toBeGreaterThan(20);
    expect(events.some((e) => e.type === 'delete' && e.key === chassisKey('hv2'))).toBe(true);
    await until(
      'hv2 registered again',
      async () => (await status('hv2')).store.state === 'connected' && (await c.ping('a1', ports.a2!.ip, 1)),
    );
  });

  it(`a presence lease of ${PRESENCE} s: the same cut loses nothing, the chassis key stays, the roles lease is renewed`, async () => {
    await c.stopAgent('hv2', 'SIGTERM');
    await c.startAgent('hv2', { args: ['--lease-ttl-seconds', String(TTL), '--presence-ttl-seconds', String(PRESENCE)], store: viaGate() });
    const before = await registration();
    expect(before.rolesLease).toBeDefined();
    expect(before.rolesLease).not.toBe(before.lease);
    expect((await store.get(chassisKey('hv2')))?.lease).toBe(before.lease);
    events.length = 0;
    const { sent, lost } = await lostDuringCut();
    console.log(`presence lease ${PRESENCE} s, hv2 cut off ${CUT_S} s (lease TTL ${TTL} s): ${lost}/${sent} pings lost`);
    expect(lost).toBe(0);
    expect(events.filter((e) => e.type === 'delete' && e.key === chassisKey('hv2'))).toEqual([]);
    await until('hv2 back on the store with a new roles lease', async () => {
      const r = await registration();
      return (await status('hv2')).store.state === 'connected' && r.rolesLease !== undefined && r.rolesLease !== before.rolesLease;
    });
    const after = await registration();
    expect(after.lease).toBe(before.lease);
    expect((await store.get(chassisKey('hv2')))?.lease).toBe(before.lease);
  });

  it("a crash and restart of hv2's agent while it is cut off: nothing lost; its key moves onto the new agent's lease when the store answers", async () => {
    const before = await registration();
    events.length = 0;
    const { sent, lost } = await lostDuringCut(async () => {
      await sleep(1_000);
      await c.stopAgent('hv2', 'SIGKILL');
      await c.startAgent('hv2', {
        args: ['--lease-ttl-seconds', String(TTL), '--presence-ttl-seconds', String(PRESENCE)],
        store: viaGate(),
      });
      expect((await status('hv2')).topology.source).toBe('cache');
    });
    console.log(`presence lease, hv2's agent SIGKILLed and restarted while cut off: ${lost}/${sent} pings lost`);
    expect(lost).toBe(0);
    expect(events.filter((e) => e.type === 'delete' && e.key === chassisKey('hv2'))).toEqual([]);
    await until('hv2 registered on its new agent', async () => {
      const r = await registration();
      return r.lease !== undefined && r.lease !== before.lease && (await store.get(chassisKey('hv2')))?.lease === r.lease;
    });
    expect(await c.ping('a1', ports.a2!.ip, 1)).toBe(true);
    await expectRecomputeEqual(c, ['hv1', 'hv2']);
  });
});
