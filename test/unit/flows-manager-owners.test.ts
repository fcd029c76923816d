/**
 * The flow manager as the one writer of everything on the switch (fake switch): a bad flow set aside alone
 * (guard, codec, switch), opaque owner keys, conjunction merging and refused conflicts, groups and meters
 * desired vs installed and reconciled, transient flows swept, expired and dropped by owner, packets only.
 */
import { describe, expect, it } from 'vitest';
import { FlowManager, flowKey, type DesiredGroup, type DesiredMeter } from '../../src/flows/manager.js';
import { flowMod, packetOut, type Action } from '../../src/openflow/index.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables, type DesiredFlow } from '../../src/pipeline/tables.js';
import { FakeSwitch } from '../helpers/fake-switch.js';

const tables = new PipelineTables(loadPipeline());
const l2 = tables.forApp('l2').table('l2_lookup');
const l3 = tables.forApp('l3').table('l3_router');

const macFlow = (mac: string, key: number): DesiredFlow =>
  l2.flow({
    priority: 100,
    match: [
      { field: 'metadata', value: 5n },
      { field: 'eth_dst', value: mac },
    ],
    actions: [{ type: 'set_field', field: 'reg7', value: key }],
    goto: 'egress',
    object: key,
  });
const conj = (id: number, clause: number, n: number): Action => ({ type: 'conjunction', id, clause, nClauses: n });
const conjFlow = (actions: Action[], object = 1): DesiredFlow =>
  l3.flow({
    priority: 2000,
    match: [
      { field: 'metadata', value: 5n },
      { field: 'eth_type', value: 0x800 },
      { field: 'ipv4_src', value: '10.0.0.1' },
    ],
    actions,
    object,
  });
const reactive = (ip: string): DesiredFlow =>
  l3.flow({
    priority: 1999,
    match: [
      { field: 'metadata', value: 5n },
      { field: 'eth_type', value: 0x800 },
      { field: 'ipv4_dst', value: ip },
    ],
    goto: 'l2_lookup',
    object: 7,
    idleTimeout: 30,
  });

async function started(opts: { check?: boolean } = {}): Promise<{ sw: FakeSwitch; fm: FlowManager }> {
  const sw = new FakeSwitch();
  const fm = new FlowManager(sw, opts.check ? { check: (f) => tables.check(f) } : {});
  sw.connect();
  await fm.activate();
  return { sw, fm };
}

describe('one bad flow never blocks the rest', () => {
  for (const check of [false, true]) {
    it(`a flow with priority 70,000 is set aside and every other flow is installed (${check ? 'the guard' : 'the codec'} refuses it)`, async () => {
      const { sw, fm } = await started({ check });
      const good = [macFlow('02:00:00:00:00:01', 1), macFlow('02:00:00:00:00:02', 2)];
      const v = fm.set('l2/net:a', [...good, { ...macFlow('02:00:00:00:00:03', 3), priority: 70_000 }]);
      await fm.sync();
      await fm.whenApplied(v);
      expect(sw.flows.size).toBe(2);
      expect(fm.stats.rejectedFlows).toBe(1);
      expect(fm.stats.errors).toBe(0);
      // Not retried while unchanged; later changes go through.
      fm.set('l2/net:b', [macFlow('02:00:00:00:00:04', 4)]);
      await fm.sync();
      expect(sw.flows.size).toBe(3);
      expect(fm.stats.rejectedFlows).toBe(1);
    });
  }

  it('a flow the guard refuses for another rule (a set-field target) is set aside alone', async () => {
    const { sw, fm } = await started({ check: true });
    const bad = {
      ...macFlow('02:00:00:00:00:03', 3),
      instructions: [{ type: 'apply_actions' as const, actions: [{ type: 'set_field' as const, field: 'reg6', value: 1 }] }],
    };
    const v = fm.set('l2/net:a', [macFlow('02:00:00:00:00:01', 1), bad]);
    await fm.sync();
    await fm.whenApplied(v);
    expect(sw.flows.size).toBe(1);
    expect(fm.stats.rejectedFlows).toBe(1);
  });

  it('a flow the switch refuses inside the bundle is found by its index, set aside, and the rest installed', async () => {
    const { sw, fm } = await started();
    sw.refuse = (m) => m.type === 'FLOW_MOD' && m.match.some((f) => f.field === 'eth_dst' && f.value === '02:00:00:00:00:02');
    const v = fm.set(
      'l2/net:a',
      [1, 2, 3].map((i) => macFlow(`02:00:00:00:00:0${i}`, i)),
    );
    await fm.sync();
    await fm.whenApplied(v);
    expect(sw.flows.size).toBe(2);
    expect(fm.stats.rejectedFlows).toBe(1);
  });
});

describe('owners are opaque keys; two owners on one flow', () => {
  it('owners of any shape (port, router, group, reactive) coexist with per-network owners', async () => {
    const { sw, fm } = await started();
    fm.set('l2/net:a', [macFlow('02:00:00:00:00:01', 1)]);
    fm.set('classifier/port/p1', [macFlow('02:00:00:00:00:02', 2)]);
    fm.set('l3/router/r1', [conjFlow([conj(1, 1, 2)])]);
    await fm.sync();
    expect(sw.flows.size).toBe(3);
    expect(fm.ownerNames('l3/').sort()).toEqual(['l3/router/r1']);
    fm.drop('classifier/port/p1');
    await fm.sync();
    expect(sw.flows.size).toBe(2);
  });

  it("two owners' conjunction flows on one key are merged into one flow with both conjunctions", async () => {
    const { sw, fm } = await started();
    fm.set('sg/rule/1', [conjFlow([conj(10, 1, 2)])]);
    fm.set('sg/rule/2', [conjFlow([conj(20, 2, 3)])]);
    await fm.sync();
    expect(sw.flows.size).toBe(1);
    const [onSwitch] = [...sw.flows.values()];
    expect(onSwitch!.instructions).toEqual([{ type: 'apply_actions', actions: [conj(10, 1, 2), conj(20, 2, 3)] }]);
    expect(fm.stats.conflicts).toBe(0);
    // One owner leaves: its conjunction leaves with it, the flow stays for the other.
    fm.drop('sg/rule/1');
    await fm.sync();
    expect([...sw.flows.values()][0]!.instructions).toEqual([{ type: 'apply_actions', actions: [conj(20, 2, 3)] }]);
    fm.drop('sg/rule/2');
    await fm.sync();
    expect(sw.flows.size).toBe(0);
  });

  it('two owners with different non-conjunction actions on one key: the first keeps it, the later is refused loudly', async () => {
    const { sw, fm } = await started();
    const seen: unknown[] = [];
    fm.on('conflict', (c) => seen.push(c));
    const a = macFlow('02:00:00:00:00:01', 1);
    const b = macFlow('02:00:00:00:00:01', 2); // same match, other destination port
    fm.set('l2/net:a', [a]);
    fm.set('l2/net:b', [b]);
    await fm.sync();
    expect(fm.stats.conflicts).toBe(1);
    expect(seen).toEqual([{ key: flowKey(a), kept: 'l2/net:a', setAside: 'l2/net:b' }]);
    expect(fm.conflicts()).toEqual(new Map([[flowKey(a), ['l2/net:b']]]));
    expect([...sw.flows.values()][0]!.cookie).toBe(a.cookie);
    // Recomputing the same owners reports nothing new; once the first leaves, the second is installed.
    fm.set('l2/net:b', [b]);
    expect(fm.stats.conflicts).toBe(1);
    fm.drop('l2/net:a');
    await fm.sync();
    expect([...sw.flows.values()][0]!.cookie).toBe(b.cookie);
    expect(fm.conflicts().size).toBe(0);
    // The first owner back: it is the later one now, set aside; the key is held by one owner, then two, then one.
    fm.set('l2/net:a', [a]);
    await fm.sync();
    expect(seen.at(-1)).toEqual({ key: flowKey(a), kept: 'l2/net:b', setAside: 'l2/net:a' });
    expect([...sw.flows.values()][0]!.cookie).toBe(b.cookie);
    fm.drop('l2/net:b');
    fm.drop('l2/net:a');
    await fm.sync();
    expect(sw.flows.size).toBe(0);
    expect(fm.conflicts().size).toBe(0);
  });

  it('two owners declaring the very same flow share it without a conflict', async () => {
    const { sw, fm } = await started();
    fm.set('x/1', [macFlow('02:00:00:00:00:01', 1)]);
    fm.set('x/2', [macFlow('02:00:00:00:00:01', 1)]);
    await fm.sync();
    expect(fm.stats.conflicts).toBe(0);
    fm.drop('x/1');
    await fm.sync();
    expect(sw.flows.size).toBe(1);
  });
});

describe('groups and meters: desired vs installed, reconciled', () => {
  const group = (id: number, ports: number[]): DesiredGroup => ({
    groupId: id,
    type: 'all',
    buckets: ports.map((p) => ({ actions: [{ type: 'output', port: p }] })),
  });
  const meter = (id: number, rate: number): DesiredMeter => ({ meterId: id, bands: [{ type: 'drop', rate, burstSize: 0 }] });

  it('installs, modifies and deletes groups in the bundle and meters beside it; flows may use them', async () => {
    const { sw, fm } = await started();
    fm.setGroups('l2/group/flood', [group(1, [1, 2])]);
    fm.setMeters('qos/port/p1', [meter(3, 1000)]);
    const useGroup = l2.flow({
      priority: 100,
      match: [
        { field: 'metadata', value: 5n },
        { field: 'eth_dst', value: '02:00:00:00:00:01' },
      ],
      actions: [{ type: 'group', groupId: 1 } as Action],
      object: 1,
    });
    const v = fm.set('l2/net:a', [useGroup]);
    await fm.sync();
    await fm.whenApplied(v);
    expect([...sw.groups.keys()]).toEqual([1]);
    expect([...sw.meters.keys()]).toEqual([3]);
    expect(sw.flows.size).toBe(1);
    const bundles = sw.bundles;
    fm.setGroups('l2/group/flood', [group(1, [1, 2, 3])]);
    fm.setMeters('qos/port/p1', [meter(3, 2000)]);
    await fm.sync();
    expect(sw.groups.get(1)!.buckets).toHaveLength(3);
    expect(sw.meters.get(3)!.bands[0]!.rate).toBe(2000);
    expect(sw.bundles).toBe(bundles + 1);
    fm.drop('l2/group/flood');
    fm.drop('qos/port/p1');
    fm.drop('l2/net:a');
    await fm.sync();
    expect(sw.groups.size + sw.meters.size + sw.flows.size).toBe(0);
  });

  it('after a reconnect, equal groups and meters are left alone, missing ones restored, strays removed', async () => {
    const { sw, fm } = await started();
    fm.setGroups('g', [group(1, [1]), group(2, [2])]);
    fm.setMeters('m', [meter(3, 1000)]);
    await fm.sync();
    sw.disconnect();
    sw.groups.delete(2); // lost (e.g. the switch restarted)
    sw.meters.clear();
    sw.groups.set(9, { groupId: 9, groupType: 0, buckets: [] }); // not ours
    sw.connect();
    await new Promise((r) => setTimeout(r, 20));
    await fm.sync();
    expect([...sw.groups.keys()].sort()).toEqual([1, 2]);
    expect([...sw.meters.keys()]).toEqual([3]);
    // Read at connect, and once more after deleting the stray group (the switch may have dropped flows using it).
    expect(fm.stats.reconciles).toBe(3);
    // The meter the switch reports (with a burst size of its own) compares equal to the one declared.
    const bundles = sw.bundles;
    await fm.sync();
    expect(sw.bundles).toBe(bundles);
  });

  it('a meter the switch refuses is set aside alone; flows and groups still go in', async () => {
    const { sw, fm } = await started();
    sw.refuse = (m) => m.type === 'METER_MOD' && m.meterId === 4;
    fm.setMeters('m', [meter(3, 1000), meter(4, 1000)]);
    fm.setGroups('g', [group(1, [1])]);
    const v = fm.set('l2/net:a', [macFlow('02:00:00:00:00:01', 1)]);
    await fm.sync();
    await fm.whenApplied(v);
    expect([...sw.meters.keys()]).toEqual([3]);
    expect(sw.groups.size).toBe(1);
    expect(sw.flows.size).toBe(1);
    expect(fm.stats.rejectedObjects).toBe(1);
  });

  it('two owners on one group id with different buckets: the later is refused loudly', async () => {
    const { sw, fm } = await started();
    fm.setGroups('a', [group(1, [1])]);
    fm.setGroups('b', [group(1, [2])]);
    await fm.sync();
    expect(fm.stats.conflicts).toBe(1);
    expect(sw.groups.get(1)!.buckets[0]!.actions).toEqual([{ type: 'output', port: 1 }]);
  });
});

describe('transient flows', () => {
  it('are declared per owner with add(), installed with send_flow_rem, and forgotten when they expire', async () => {
    const { sw, fm } = await started();
    await fm.answer({ owner: 'l3/reactive/r1', flows: [reactive('10.0.0.1')] });
    await fm.answer({ owner: 'l3/reactive/r1', flows: [reactive('10.0.0.2')] });
    expect(sw.flows.size).toBe(2);
    expect([...sw.flows.values()].every((f) => f.flags === 1 && f.idleTimeout === 30)).toBe(true);
    expect(fm.transientFlows()).toHaveLength(2);
    expect(fm.desiredFlows()).toHaveLength(0); // the full-recompute comparison sees permanent flows only
    expect(fm.desiredCount()).toBe(0);
    sw.expire(flowKey(reactive('10.0.0.1')));
    expect(fm.transientFlows()).toHaveLength(1);
    expect(fm.stats.transientExpired).toBe(1);
    await fm.sync();
    expect(sw.flows.size).toBe(1); // not put back
  });

  it('deleted on the switch by someone else (FLOW_REMOVED, reason delete): forgotten, and put back by the next answer', async () => {
    const { sw, fm } = await started();
    await fm.answer({ owner: 'l3/reactive/r1', flows: [reactive('10.0.0.1')] });
    sw.expire(flowKey(reactive('10.0.0.1')), 2);
    expect(fm.transientFlows()).toHaveLength(0);
    expect(fm.stats.transientDeleted).toBe(1);
    expect(fm.stats.transientExpired).toBe(0);
    await fm.answer({ owner: 'l3/reactive/r1', flows: [reactive('10.0.0.1')] });
    expect(sw.flows.has(flowKey(reactive('10.0.0.1')))).toBe(true);
  });

  it('dropping the owner deletes them (what they were computed from changed)', async () => {
    const { sw, fm } = await started();
    await fm.answer({ owner: 'l3/reactive/r1', flows: [reactive('10.0.0.1')] });
    await fm.answer({ owner: 'l3/reactive/r2', flows: [reactive('10.0.0.2')] });
    fm.drop('l3/reactive/r1');
    await fm.sync();
    expect([...sw.flows.keys()]).toEqual([flowKey(reactive('10.0.0.2'))]);
  });

  it('the first connect after a start sweeps transient flows an earlier run left; expired ones are not re-added', async () => {
    const sw = new FakeSwitch();
    sw.connect();
    // An earlier agent's reactive flow, still on the switch.
    const old = reactive('10.0.0.9');
    await sw.send(flowMod({ ...old, command: 'add', flags: 1 }));
    const fm = new FlowManager(sw);
    fm.set('l2/net:a', [macFlow('02:00:00:00:00:01', 1)]);
    await fm.activate();
    expect([...sw.flows.keys()]).toEqual([flowKey(macFlow('02:00:00:00:00:01', 1))]);
    // A transient flow of this run that expires while the connection is down is forgotten at reconcile.
    await fm.answer({ owner: 'l3/reactive/r1', flows: [reactive('10.0.0.1')] });
    sw.disconnect();
    sw.flows.delete(flowKey(reactive('10.0.0.1')));
    sw.connect();
    await new Promise((r) => setTimeout(r, 20));
    await fm.sync();
    expect(fm.transientFlows()).toHaveLength(0);
    expect(sw.flows.size).toBe(1);
  });

  it('packets go out after the flows they need; sendPackets refuses anything but PACKET_OUT', async () => {
    const { sw, fm } = await started();
    const order: string[] = [];
    const send = sw.send.bind(sw);
    sw.send = async (m) => {
      order.push(`${m.type}:${sw.flows.size}`);
      return send(m);
    };
    await fm.answer({ owner: 'l3/reactive/r1', flows: [reactive('10.0.0.1')], packets: [packetOut({ data: Buffer.alloc(60) })] });
    expect(order).toEqual(['PACKET_OUT:1']);
    await expect(fm.sendPackets([flowMod({})])).rejects.toThrow(/PACKET_OUT/);
  });
});

describe('counts for /metrics and the status', () => {
  it('desiredCount() is desiredFlows().length; forEachInstalled() sees every installed flow with its cookie', async () => {
    const { fm } = await started();
    fm.set('l2/net:a', [macFlow('02:00:00:00:00:01', 1), macFlow('02:00:00:00:00:02', 2)]);
    await fm.sync();
    await fm.answer({ owner: 'l3/reactive/r1', flows: [reactive('10.0.0.1')] });
    expect(fm.desiredCount()).toBe(2);
    expect(fm.desiredFlows()).toHaveLength(2);
    expect(fm.transientFlows()).toHaveLength(1);
    const seen: [number, bigint | undefined][] = [];
    fm.forEachInstalled((tableId, cookie) => seen.push([tableId, cookie]));
    expect(seen).toHaveLength(fm.installedCount());
    expect(seen.map(([, c]) => tables.decodeCookie(c!).app).sort()).toEqual(['l2', 'l2', 'l3']);
  });
});
