import { describe, expect, it, vi } from 'vitest';
import { FlowManager } from '../../src/flows/manager.js';
import { sameData } from '../../src/flows/canonical.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables, type DesiredFlow } from '../../src/pipeline/tables.js';
import { FakeSwitch } from '../helpers/fake-switch.js';

const tables = new PipelineTables(loadPipeline());
const l2 = tables.forApp('l2');

function macFlow(mac: string, portKey: number, out: number): DesiredFlow {
  return l2.table('l2_lookup').flow({
    priority: 100,
    match: [
      { field: 'metadata', value: 5n },
      { field: 'eth_dst', value: mac },
    ],
    actions: [{ type: 'set_field', field: 'reg7', value: portKey }],
    goto: 'egress',
    object: portKey + out * 0,
  });
}

describe('FlowManager', () => {
  it('writes nothing before activate, then installs desired flows in one bundle', async () => {
    const sw = new FakeSwitch();
    const fm = new FlowManager(sw);
    sw.connect();
    fm.set('pipeline', tables.missFlows());
    const v = fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1)]);
    await new Promise((r) => setTimeout(r, 10));
    expect(sw.flows.size).toBe(0);
    await fm.activate();
    await fm.whenApplied(v);
    expect(sw.flows.size).toBe(tables.pipeline.tables.length + 1);
    expect(sw.bundles).toBe(1);
  });

  it('reads the switch as a session comes up before activate; the first sync uses that read unless a newer session or time made it stale', async () => {
    const sw = new FakeSwitch();
    let dumps = 0;
    const dumpFlows = sw.dumpFlows.bind(sw);
    sw.dumpFlows = () => {
      dumps++;
      return dumpFlows();
    };
    // An earlier run left a and b on the switch.
    const before = new FlowManager(sw);
    sw.connect();
    before.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1), macFlow('02:00:00:00:00:02', 2, 2)]);
    await before.activate();
    before.close();
    sw.disconnect();

    // A new run: the session comes up while its first computation is under way.
    const fm = new FlowManager(sw);
    dumps = 0;
    sw.connect();
    expect(dumps).toBe(1); // read at once
    fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1)]);
    const mods = sw.flowMods;
    await fm.activate();
    expect(dumps).toBe(1); // that read served the first sync: a kept, b (nobody declares it) deleted
    expect(sw.flowMods - mods).toBe(1);
    expect(sw.flows.size).toBe(1);

    fm.close();

    // A session lost and made again before activate: the read of the first one is not used.
    const again = new FlowManager(sw);
    sw.disconnect();
    sw.connect(); // read: a
    sw.disconnect();
    const other = new FlowManager(sw); // meanwhile another writer left c there
    sw.connect();
    other.set('l2/c', [macFlow('02:00:00:00:00:03', 3, 3)]);
    await other.activate();
    other.close();
    sw.disconnect();
    sw.connect(); // read: a, c
    dumps = 0;
    again.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1)]);
    await again.activate();
    expect(dumps).toBe(0); // the last session's read (made as it came up) served it…
    expect(sw.flows.size).toBe(1); // …so c, which it saw, is deleted
    again.close();

    // A session lost before activate and made again after it: the read of the lost one is not used.
    const gap = new FlowManager(sw);
    sw.disconnect();
    sw.connect(); // read: a
    const writer = new FlowManager(sw); // after that read, another writer adds d
    writer.set('l2/d', [macFlow('02:00:00:00:00:04', 4, 4)]);
    await writer.activate();
    writer.close();
    sw.disconnect();
    gap.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1)]);
    await gap.activate(); // down: nothing written yet
    dumps = 0;
    sw.connect(); // a new session: gap reads it (a, d) and deletes d
    await gap.sync();
    expect(dumps).toBe(1);
    expect(sw.flows.size).toBe(1);
    gap.close();

    // A read older than two seconds (the agent waited for its store) is made again.
    const late = new FlowManager(sw);
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      sw.disconnect();
      sw.connect();
      dumps = 0;
      vi.advanceTimersByTime(2_500);
      late.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1)]);
      await late.activate();
      expect(dumps).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('applies only the difference and removes what no owner declares', async () => {
    const sw = new FakeSwitch();
    const fm = new FlowManager(sw);
    sw.connect();
    await fm.activate();
    fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1), macFlow('02:00:00:00:00:02', 2, 2)]);
    await fm.sync();
    const mods = sw.flowMods;
    fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1), macFlow('02:00:00:00:00:03', 3, 3)]);
    await fm.sync();
    expect(sw.flowMods - mods).toBe(2); // one add, one delete
    expect([...sw.flows.values()].map((f) => f.match.find((m) => m.field === 'eth_dst')?.value).sort()).toEqual([
      '02:00:00:00:00:01',
      '02:00:00:00:00:03',
    ]);
    fm.drop('l2/a');
    await fm.sync();
    expect(sw.flows.size).toBe(0);
  });

  it('reconciles after reconnect: adds missing, removes strays, leaves equal flows alone', async () => {
    const sw = new FakeSwitch();
    const fm = new FlowManager(sw);
    sw.connect();
    await fm.activate();
    fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1), macFlow('02:00:00:00:00:02', 2, 2)]);
    await fm.sync();
    sw.disconnect();
    // While disconnected someone removes one flow and adds a stray one.
    const [first] = [...sw.flows.keys()];
    sw.flows.delete(first!);
    const stray = macFlow('02:00:00:00:00:99', 9, 9);
    await sw.send({
      type: 'FLOW_MOD',
      xid: 0,
      command: 'add',
      ...stray,
      cookieMask: 0n,
      bufferId: 0xffffffff,
      outPort: 0xffffffff,
      outGroup: 0xffffffff,
      flags: 0,
    } as never);
    const mods = sw.flowMods;
    sw.connect();
    await new Promise((r) => setTimeout(r, 20));
    await fm.sync();
    expect(sw.flowMods - mods).toBe(2);
    expect(sw.flows.size).toBe(2);
    expect(fm.stats.reconciles).toBe(2);
  });

  it('survives a failed bundle by re-reading the switch and retrying', async () => {
    const sw = new FakeSwitch();
    const fm = new FlowManager(sw);
    sw.connect();
    await fm.activate();
    sw.failNextBundle = true;
    const v = fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1)]);
    await fm.sync();
    await fm.whenApplied(v);
    expect(sw.flows.size).toBe(1);
    expect(fm.stats.errors).toBe(1);
  });
});

describe('FlowManager with refused flows', () => {
  it('leaves out a flow the codec cannot encode and installs everything else', async () => {
    const sw = new FakeSwitch();
    const fm = new FlowManager(sw);
    sw.connect();
    await fm.activate();
    const bad = { ...macFlow('02:00:00:00:00:09', 9, 9), match: [{ field: 'no_such_field', value: 1 }] };
    const v = fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1), bad]);
    await fm.sync();
    await fm.whenApplied(v);
    expect(sw.flows.size).toBe(1);
    expect(fm.stats.rejectedFlows).toBe(1);
    // Later changes still go through, and the refused flow is not retried while unchanged.
    fm.set('l2/b', [macFlow('02:00:00:00:00:02', 2, 2)]);
    await fm.sync();
    expect(sw.flows.size).toBe(2);
    expect(fm.stats.rejectedFlows).toBe(1);
  });

  it('sets aside a flow the switch refuses inside a bundle and commits the rest', async () => {
    const sw = new FakeSwitch();
    sw.refuse = (m) => m.type === 'FLOW_MOD' && m.priority === 666;
    const fm = new FlowManager(sw);
    sw.connect();
    await fm.activate();
    const refused = { ...macFlow('02:00:00:00:00:07', 7, 7), priority: 666 };
    fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1), refused, macFlow('02:00:00:00:00:03', 3, 3)]);
    await fm.sync();
    expect(sw.flows.size).toBe(2);
    expect(fm.stats.rejectedFlows).toBe(1);
    expect(fm.installedCount()).toBe(2);
  });

  it('several refused flows in one bundle: each is set aside, the switch is re-read, the rest stays installed', async () => {
    const sw = new FakeSwitch();
    sw.refuse = (m) => m.type === 'FLOW_MOD' && m.priority >= 600;
    const fm = new FlowManager(sw);
    sw.connect();
    await fm.activate();
    const flows = [1, 2, 3, 4, 5].map((i) => ({ ...macFlow(`02:00:00:00:00:0${i}`, i, i), priority: i % 2 ? 100 + i : 600 + i }));
    const v = fm.set('l2/a', flows);
    await fm.sync();
    await fm.whenApplied(v);
    expect([...sw.flows.values()].map((f) => f.priority).sort()).toEqual([101, 103, 105]);
    expect(fm.stats.rejectedFlows).toBe(2);
    expect(fm.stats.reconciles).toBeGreaterThanOrEqual(2); // the switch was re-read after the partial commit
    expect(fm.installedCount()).toBe(3);
    // Nothing more to do: the refused ones are not retried while unchanged.
    const bundles = sw.bundles;
    await fm.sync();
    expect(sw.bundles).toBe(bundles);
  });
});

describe('sameData (the recompute short-cut)', () => {
  it('is structural equality over the data apps build', () => {
    const ins = () => [
      {
        type: 'apply_actions',
        actions: [
          { type: 'set_field', field: 'eth_dst', value: '02:00:00:00:00:01' },
          { type: 'output', port: 5 },
        ],
      },
      { type: 'write_metadata', value: 7n, mask: 0xffn },
    ];
    expect(sameData(ins(), ins())).toBe(true);
    expect(sameData({ a: Buffer.from([1, 2]) }, { a: new Uint8Array([1, 2]) })).toBe(true);
    expect(sameData({ a: Buffer.from([1, 2]) }, { a: Buffer.from([1, 3]) })).toBe(false);
    expect(sameData({ v: 7n }, { v: 8n })).toBe(false);
    expect(sameData({ v: 7n }, { v: 7 })).toBe(false);
    expect(sameData({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameData({ a: 1, b: 2 }, { a: 1 })).toBe(false);
    expect(sameData([1, 2], [2, 1])).toBe(false);
    expect(sameData([1], { 0: 1 })).toBe(false);
    expect(sameData(null, {})).toBe(false);
  });

  it('a recomputed owner whose flows come back equal (new objects) bumps no version and sends nothing', async () => {
    const sw = new FakeSwitch();
    const fm = new FlowManager(sw);
    sw.connect();
    await fm.activate();
    const v1 = fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1), macFlow('02:00:00:00:00:02', 2, 2)]);
    await fm.sync();
    const mods = sw.flowMods;
    expect(fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1), macFlow('02:00:00:00:00:02', 2, 2)])).toBe(v1);
    await fm.sync();
    expect(sw.flowMods).toBe(mods);
    // One changed flow among equal ones: exactly that one is sent.
    const v2 = fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1, 1), macFlow('02:00:00:00:00:02', 9, 2)]);
    expect(v2).toBeGreaterThan(v1);
    await fm.sync();
    expect(sw.flowMods).toBe(mods + 1);
  });
});
