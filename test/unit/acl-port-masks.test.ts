import { describe, expect, it } from 'vitest';
import { portRangeMasks } from '../../src/apps/acl/port-masks.js';

/** Ports 0..65535 the masks match, as a bitmap. */
function covered(masks: { value: number; mask: number }[]): Uint8Array {
  const hit = new Uint8Array(0x10000);
  for (let p = 0; p <= 0xffff; p++) for (const m of masks) if ((p & m.mask) === m.value) hit[p]! += 1;
  return hit;
}

describe('port range -> value/mask pairs', () => {
  it('known decompositions', () => {
    expect(portRangeMasks(80, 80)).toEqual([{ value: 80, mask: 0xffff }]);
    expect(portRangeMasks(1024, 2047)).toEqual([{ value: 1024, mask: 0xfc00 }]);
    expect(portRangeMasks(0, 65535)).toEqual([{ value: 0, mask: 0 }]);
    expect(portRangeMasks(1, 65535)).toHaveLength(16);
    expect(portRangeMasks(8000, 8080).length).toBeLessThanOrEqual(30);
  });

  it('matches exactly the range, each port once, on random ranges (exhaustive check of all 65536 ports)', () => {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 0x10000;
    const cases: [number, number][] = [
      [1, 1],
      [65535, 65535],
      [1, 65535],
      [32767, 32768],
    ];
    for (let i = 0; i < 40; i++) {
      const a = rnd(),
        b = i % 3 === 0 ? Math.min(0xffff, a + (rnd() % 300)) : rnd();
      cases.push([Math.min(a, b), Math.max(a, b)]);
    }
    for (const [min, max] of cases) {
      const masks = portRangeMasks(min, max);
      // At most 2 blocks per bit: the classic bound for a 16-bit range.
      expect(masks.length).toBeLessThanOrEqual(30);
      const hit = covered(masks);
      for (let p = 0; p <= 0xffff; p++)
        if (hit[p] !== (p >= min && p <= max ? 1 : 0)) throw new Error(`${min}..${max}: port ${p} hit ${hit[p]}`);
    }
  });

  it('refuses bad ranges', () => {
    expect(() => portRangeMasks(10, 9)).toThrow(RangeError);
    expect(() => portRangeMasks(0, 65536)).toThrow(RangeError);
  });
});
