/**
 * The compact flow representation (issue 17, memory per bound port): flow parts shared between flows and frozen,
 * the installed state holding the declared objects themselves, owners' flows in arrays. What must never happen:
 * a shared part changed through one flow, two different values shared as one, or an update skipped because a
 * flow was taken for one already on the switch.
 */
import { describe, expect, it } from 'vitest';
import { FlowManager } from '../../src/flows/manager.js';
import { DesiredFlows, flowKey } from '../../src/flows/desired.js';
import type { Action, Match } from '../../src/openflow/index.js';
import { BuiltFlow } from '../../src/pipeline/built-flow.js';
import { FlowInterner } from '../../src/pipeline/intern.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables, type DesiredFlow } from '../../src/pipeline/tables.js';
import { FakeSwitch } from '../helpers/fake-switch.js';

const tables = new PipelineTables(loadPipeline());
const l2 = tables.forApp('l2');

function macFlow(mac: string, portKey: number, extra: Action[] = []): DesiredFlow {
  return l2.table('l2_lookup').flow({
    priority: 100,
    match: [
      { field: 'metadata', value: 5n },
      { field: 'eth_dst', value: mac },
    ],
    actions: [{ type: 'set_field', field: 'reg7', value: portKey }, ...extra],
    goto: 'egress',
    object: portKey,
  });
}

describe('FlowInterner', () => {
  it('shares equal parts between flows, and every shared part is frozen', () => {
    const a = macFlow('02:00:00:00:00:01', 1);
    const b = macFlow('02:00:00:00:00:02', 1);
    expect(a.match[0]).toBe(b.match[0]); // metadata 5
    expect(a.match[1]).not.toBe(b.match[1]);
    expect(a.instructions.at(-1)).toBe(b.instructions.at(-1)); // goto egress
    expect(a.cookie).toBe(b.cookie);
    for (const part of [a.match, a.match[0], a.instructions, a.instructions[0], a.instructions.at(-1)])
      expect(Object.isFrozen(part)).toBe(true);
    const actions = (a.instructions[0] as { actions: Action[] }).actions;
    expect(Object.isFrozen(actions) && Object.isFrozen(actions[0])).toBe(true);
    // ESM is strict: a write to a shared part throws instead of changing every flow that holds it.
    expect(() => (a.match as Match).push({ field: 'eth_type', value: 0x800 })).toThrow(TypeError);
    expect(() => ((a.match[0] as { value: unknown }).value = 6n)).toThrow(TypeError);
    expect(b.match[0]).toEqual({ field: 'metadata', value: 5n });
  });

  it('never shares values that differ in type or in a single character', () => {
    const i = new FlowInterner();
    const m = i.match([
      { field: 'reg7', value: 1 },
      { field: 'reg7', value: 1n as unknown as number },
      { field: 'reg7', value: '1' as unknown as number },
      { field: 'eth_dst', value: 'a\u0000s1:b' },
      { field: 'eth_dst', value: 'a', mask: 's1:b' } as never,
    ]);
    expect(new Set(m).size).toBe(5);
    expect(m.map((f) => (f as { value: unknown }).value)).toEqual([1, 1n, '1', 'a\u0000s1:b', 'a']);
    // Byte arrays: same bytes shared, other bytes not.
    const c1 = i.actions([{ type: 'note', data: Buffer.from([1, 2]) }]);
    const c2 = i.actions([{ type: 'note', data: Buffer.from([1, 2]) }]);
    const c3 = i.actions([{ type: 'note', data: Buffer.from([1, 3]) }]);
    expect(c1[0]).toBe(c2[0]);
    expect(c1[0]).not.toBe(c3[0]);
  });

  it('actions of a type and one or two primitive values (output, resubmit, set_field) are shared by exact content', () => {
    const i = new FlowInterner();
    const out = (port: unknown) => ({ type: 'output', port }) as unknown as Action;
    const a = i.actions([out(1), out(2), out(1n), out('1'), out(1)]);
    expect(a[0]).toBe(a[4]);
    expect(new Set(a).size).toBe(4);
    expect(a.map((x) => (x as { port: unknown }).port)).toEqual([1, 2, 1n, '1', 1]);
    const set = (field: string, value: unknown) => ({ type: 'set_field', field, value }) as unknown as Action;
    const b = i.actions([set('reg7', 1), set('reg6', 1), set('reg7', 1), set('reg7', '1'), set('reg7', 2)]);
    expect(b[0]).toBe(b[2]);
    expect(new Set(b).size).toBe(4);
    // Same values under other keys, in another order, or with a third key: never one object.
    const c = i.actions([
      { type: 'output', port: 1, maxLen: 0 } as Action,
      { type: 'output', maxLen: 1 } as unknown as Action,
      { type: 'set_field', value: 1, field: 'reg7' } as unknown as Action,
      { type: 'resubmit', port: 1 } as unknown as Action,
    ]);
    expect(new Set([...c, a[0], b[0]]).size).toBe(6);
    expect(c[2]).toEqual({ type: 'set_field', value: 1, field: 'reg7' });
    for (const x of [...a, ...b, ...c]) expect(Object.isFrozen(x)).toBe(true);
    expect(() => ((a[0] as { port: number }).port = 9)).toThrow(TypeError);
    // Past the limit the table starts over; objects handed out stay valid and frozen.
    const small = new FlowInterner(2);
    const first = small.actions([out(1)])[0];
    small.actions([out(2), out(3)]);
    expect(small.size).toBeLessThanOrEqual(2);
    expect(first).toEqual({ type: 'output', port: 1 });
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('keeps nested objects as built, and starts over past its limit with earlier objects intact', () => {
    const i = new FlowInterner(2);
    const nested = { type: 'learn', specs: [{ a: 1 }] } as unknown as Action;
    expect(i.actions([nested])[0]).toBe(nested);
    const a = i.match([{ field: 'reg6', value: 1 }]);
    i.match([
      { field: 'reg6', value: 2 },
      { field: 'reg6', value: 3 },
    ]); // past the limit: table cleared
    expect(i.size).toBeLessThanOrEqual(2);
    expect(a[0]).toEqual({ field: 'reg6', value: 1 });
    expect(Object.isFrozen(a[0])).toBe(true);
  });
});

describe('installed state holds the declared flows', () => {
  it('a flow changed in its actions is sent again; an equal one rebuilt is not', async () => {
    const sw = new FakeSwitch();
    const fm = new FlowManager(sw);
    sw.connect();
    await fm.activate();
    fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1), macFlow('02:00:00:00:00:02', 2)]);
    await fm.sync();
    let mods = sw.flowMods;
    // Rebuilt, equal: new objects, nothing to send.
    fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1), macFlow('02:00:00:00:00:02', 2)]);
    await fm.sync();
    expect(sw.flowMods).toBe(mods);
    // One action more on one flow (same key, same cookie): exactly that flow is sent.
    fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1, [{ type: 'dec_nw_ttl' }]), macFlow('02:00:00:00:00:02', 2)]);
    await fm.sync();
    expect(sw.flowMods).toBe(mods + 1);
    expect((await fm.compareSwitch(fm.desiredFlows())).equal).toBe(true);
    mods = sw.flowMods;
    // And back: sent again, even though it equals what was on the switch two versions ago.
    fm.set('l2/a', [macFlow('02:00:00:00:00:01', 1), macFlow('02:00:00:00:00:02', 2)]);
    await fm.sync();
    expect(sw.flowMods).toBe(mods + 1);
    expect((await fm.compareSwitch(fm.desiredFlows())).equal).toBe(true);
  });

  it('a declaration that differs only in structure is written again (harmless), never taken for a changed one', async () => {
    const sw = new FakeSwitch();
    const fm = new FlowManager(sw);
    sw.connect();
    await fm.activate();
    const out = (extra: object) =>
      l2.table('l2_lookup').flow({
        priority: 100,
        match: [
          { field: 'metadata', value: 5n },
          { field: 'eth_dst', value: '02:00:00:00:00:07' },
        ],
        actions: [{ type: 'output', port: 5, ...extra } as Action],
        object: 7,
      });
    fm.set('l2/a', [out({})]);
    await fm.sync();
    const mods = sw.flowMods;
    fm.set('l2/a', [out({ maxLen: 0 })]); // the same flow on the switch (max_len is ignored but for the controller)
    await fm.sync();
    expect(sw.flowMods).toBe(mods + 1);
    fm.set('l2/a', [out({ maxLen: 0 })]);
    await fm.sync();
    expect(sw.flowMods).toBe(mods + 1);
    expect((await fm.compareSwitch(fm.desiredFlows())).equal).toBe(true);
  });

  it('after a reconnect the dump is compared by content: equal flows stay, a flow changed on the switch is fixed', async () => {
    const sw = new FakeSwitch();
    const fm = new FlowManager(sw);
    sw.connect();
    await fm.activate();
    const a = macFlow('02:00:00:00:00:01', 1);
    const b = macFlow('02:00:00:00:00:02', 2);
    fm.set('l2/a', [a, b]);
    await fm.sync();
    // Someone rewrote b's actions on the switch behind our back; then the connection drops and comes back.
    const onSwitch = sw.flows.get(flowKey(b))!;
    sw.flows.set(flowKey(b), { ...onSwitch, instructions: macFlow('02:00:00:00:00:02', 2, [{ type: 'dec_nw_ttl' }]).instructions });
    const mods = sw.flowMods;
    sw.disconnect();
    sw.connect();
    await new Promise((r) => setTimeout(r, 20));
    await fm.sync();
    expect(sw.flowMods).toBe(mods + 1); // b only: a, read back equal, is left alone
    expect((await fm.compareSwitch([a, b])).equal).toBe(true);
  });
});

describe('flow keys kept on the flow', () => {
  it('a built flow keeps its key inside: no property, invisible to copies, JSON and equality', () => {
    const f = macFlow('02:00:00:00:00:01', 1);
    expect(f).toBeInstanceOf(BuiltFlow);
    const k = flowKey(f);
    expect(flowKey(f)).toBe(k);
    expect(BuiltFlow.keyOf(f)).toBe(k);
    expect(Reflect.ownKeys(f)).toEqual(['table', 'tableId', 'priority', 'match', 'instructions', 'cookie', 'idleTimeout', 'hardTimeout']);
    expect(JSON.stringify(f, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(k);
    expect(Reflect.ownKeys({ ...f })).toEqual(Reflect.ownKeys(f));
    expect({ ...f }).toEqual(f);
    const other = { ...f, match: macFlow('02:00:00:00:00:02', 1).match };
    expect(flowKey(other)).not.toBe(k);
    expect(flowKey(other)).toBe(flowKey(macFlow('02:00:00:00:00:02', 1)));
  });

  it('any other flow keeps it under a symbol, not enumerable; a frozen one aside', () => {
    const f = { ...macFlow('02:00:00:00:00:01', 1) };
    const k = flowKey(f);
    expect(flowKey(f)).toBe(k);
    expect(BuiltFlow.keyOf(f)).toBeUndefined();
    expect(Object.getOwnPropertySymbols({ ...f })).toEqual([]);
    expect(Object.getOwnPropertySymbols(f)).toHaveLength(1);
    expect(Object.getOwnPropertyDescriptor(f, Object.getOwnPropertySymbols(f)[0]!)).toMatchObject({ enumerable: false, writable: false });
    const other = { ...f, match: macFlow('02:00:00:00:00:02', 1).match };
    expect(flowKey(other)).not.toBe(k);
    const frozen = Object.freeze({ ...f });
    expect(flowKey(frozen)).toBe(k);
    expect(Object.getOwnPropertySymbols(frozen)).toEqual([]);
  });
});

describe('owners in arrays', () => {
  it('one → two → one owner of a key, and transient flows forgotten one at a time', () => {
    const d = new DesiredFlows();
    const f = macFlow('02:00:00:00:00:01', 1);
    const g = macFlow('02:00:00:00:00:02', 2);
    expect(d.set(`l2/${'a'}`, [f, g])).toBe(true);
    expect(d.set('l2/a', [macFlow('02:00:00:00:00:01', 1), macFlow('02:00:00:00:00:02', 2)])).toBe(false);
    expect(d.set('l2/b', [f])).toBe(true);
    expect(d.set('l2/a', [g])).toBe(true);
    expect(d.get(flowKey(f))).toBe(f);
    expect(d.ownerNames().sort()).toEqual(['l2/a', 'l2/b']);
    const t1 = l2.table('l2_lookup').flow({
      priority: 50,
      match: [
        { field: 'metadata', value: 5n },
        { field: 'eth_dst', value: '02:00:00:00:00:09' },
      ],
      object: 9,
      idleTimeout: 5,
    });
    const t2 = l2.table('l2_lookup').flow({
      priority: 50,
      match: [
        { field: 'metadata', value: 5n },
        { field: 'eth_dst', value: '02:00:00:00:00:08' },
      ],
      object: 8,
      idleTimeout: 5,
    });
    d.add('l2/r', [t1]);
    d.add('l2/r', [t2]);
    expect(d.forgetTransient(flowKey(t1))).toBe(true);
    expect(d.has(flowKey(t1))).toBe(false);
    expect(d.get(flowKey(t2))).toBe(t2);
    expect(d.forgetTransient(flowKey(t2))).toBe(true);
    expect(d.ownerNames('l2/r')).toEqual([]);
  });
});
