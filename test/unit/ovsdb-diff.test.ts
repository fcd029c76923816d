import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyDiff } from '../../src/ovsdb/monitor.js';
import { valueEquals, type Atom } from '../../src/ovsdb/datum.js';
import type { ColumnType } from '../../src/ovsdb/schema.js';

const setType: ColumnType = { key: { type: 'string' }, min: 0, max: Infinity };
const optType: ColumnType = { key: { type: 'integer' }, min: 0, max: 1 };
const mapType: ColumnType = { key: { type: 'string' }, value: { type: 'string' }, min: 0, max: Infinity };

// The diff ovsdb-server sends in update2 "modify" (ovsdb-server(7)): sets carry the symmetric
// difference; maps carry new pairs, changed pairs with the new value, removed pairs with the old.
function setDiff(a: string[], b: string[]): string[] {
  const A = new Set(a);
  const B = new Set(b);
  return [...a.filter((x) => !B.has(x)), ...b.filter((x) => !A.has(x))];
}
function mapDiff(a: Map<string, string>, b: Map<string, string>): Map<Atom, Atom> {
  const d = new Map<Atom, Atom>();
  for (const [k, v] of b) if (a.get(k) !== v) d.set(k, v);
  for (const [k, v] of a) if (!b.has(k)) d.set(k, v);
  return d;
}

describe('update2 diff application', () => {
  it('sets: applying the symmetric difference yields the new set', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 3 })), fc.uniqueArray(fc.string({ maxLength: 3 })), (a, b) => {
        expect(valueEquals(applyDiff(a, setDiff(a, b), setType), b)).toBe(true);
      }),
    );
  });

  it('optional columns: [] -> [5] -> [6] -> []', () => {
    let v = applyDiff([], [5], optType);
    expect(v).toEqual([5]);
    v = applyDiff(v, [5, 6], optType);
    expect(v).toEqual([6]);
    expect(applyDiff(v, [6], optType)).toEqual([]);
  });

  it('optional columns: a replaced value sent alone (as ovsdb-server 3.1 does for ofport 1 -> 2)', () => {
    expect(applyDiff([1], [2], optType)).toEqual([2]);
    expect(applyDiff([2], [2], optType)).toEqual([]);
    expect(applyDiff([], [1], optType)).toEqual([1]);
    expect(applyDiff([3], [], optType)).toEqual([3]);
  });

  it('maps: added, changed and removed pairs', () => {
    const kv = fc.uniqueArray(fc.tuple(fc.string({ maxLength: 2 }), fc.string({ maxLength: 2 })), { selector: (t) => t[0] });
    fc.assert(
      fc.property(kv, kv, (a, b) => {
        const A = new Map(a);
        const B = new Map(b);
        expect(valueEquals(applyDiff(A, mapDiff(A, B), mapType), B)).toBe(true);
      }),
    );
  });

  it('scalar columns take the new value', () => {
    expect(applyDiff('a', 'b', { key: { type: 'string' }, min: 1, max: 1 })).toBe('b');
  });
});
