/**
 * DesiredFlows.add: flows added to an owner one answer at a time (reactive flows) end in exactly the state that
 * replacing the owner's whole list would give (set), whatever the sequence: repeated, changed and conflicting keys
 * across owners, and expiries in between. add() grows the owner in place instead of rebuilding it (its cost is what
 * is added); this checks it is the same thing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DesiredFlows, flowKey } from '../../src/flows/desired.js';
import type { Action } from '../../src/openflow/index.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables, type DesiredFlow } from '../../src/pipeline/tables.js';

const l3 = new PipelineTables(loadPipeline()).forApp('l3').table('l3_router');

/** Destination d's transient flow with action variant v; variants 3 and 4 are conjunctions only (mergeable). */
function flow(d: number, v: number): DesiredFlow {
  const actions: Action[] = v >= 3 ? [{ type: 'conjunction', id: 10 + v, clause: 0, nClauses: 2 }] : [{ type: 'output', port: 1 + v }];
  return l3.flow({
    priority: 1999,
    match: [
      { field: 'metadata', value: 6n },
      { field: 'eth_type', value: 0x800 },
      { field: 'ipv4_dst', value: `10.0.0.${d}` },
    ],
    actions,
    object: 7,
    idleTimeout: 30,
  });
}

type Op = { kind: 'add'; owner: string; flows: [number, number][] } | { kind: 'expire'; d: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      owner: fc.constantFrom('l3/reactive/a', 'l3/reactive/b'),
      flows: fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 4 })), { minLength: 1, maxLength: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), d: fc.integer({ min: 1, max: 6 }) }) },
);

/** The effective flows as comparable text: key → actions, sorted. */
const state = (d: DesiredFlows): string[] =>
  [...d.entries()].map(([k, f]) => `${k} ${JSON.stringify(f.instructions, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`).sort();

describe('DesiredFlows.add', () => {
  it('ends where set() with the owner’s whole list ends, for any sequence of answers and expiries', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const byAdd = new DesiredFlows();
        const bySet = new DesiredFlows();
        // What each owner declares, key → flow (the last answer for a key wins), as set() is given it.
        const lists = new Map<string, Map<string, DesiredFlow>>();
        for (const o of ops) {
          if (o.kind === 'add') {
            const flows = o.flows.map(([d, v]) => flow(d, v));
            const list = lists.get(o.owner) ?? new Map<string, DesiredFlow>();
            lists.set(o.owner, list);
            for (const f of flows) list.set(flowKey(f), f);
            byAdd.add(o.owner, flows);
            bySet.set(o.owner, [...list.values()]);
          } else {
            const key = flowKey(flow(o.d, 0));
            expect(byAdd.forgetTransient(key)).toBe(bySet.forgetTransient(key));
            for (const list of lists.values()) list.delete(key);
          }
          expect(state(byAdd)).toEqual(state(bySet));
          expect(byAdd.ownerNames().sort()).toEqual(bySet.ownerNames().sort());
        }
      }),
      { numRuns: 300 },
    );
  });

  it('says whether anything changed: the same flow again is no change, another under its key is', () => {
    const d = new DesiredFlows();
    expect(d.add('l3/reactive/a', [flow(1, 0)])).toBe(true);
    expect(d.add('l3/reactive/a', [flow(1, 0), flow(2, 0)])).toBe(true);
    expect(d.add('l3/reactive/a', [flow(2, 0)])).toBe(false);
    expect(d.add('l3/reactive/a', [flow(2, 1)])).toBe(true);
    expect(d.get(flowKey(flow(2, 0)))!.instructions).toEqual(flow(2, 1).instructions);
    expect(d.size).toBe(2);
  });
});
