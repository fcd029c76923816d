/** The big-endian writers under every encoder: exact bytes at the range edges, and a RangeError outside them. */
import { describe, expect, it } from 'vitest';
import { writeU32, writeU64 } from '../../src/openflow/writer.js';

const u64 = (v: bigint | number): string => {
  const b = Buffer.alloc(8);
  writeU64(b, 0, v);
  return b.toString('hex');
};

describe('writeU64', () => {
  it('writes bigints exactly across the 32-bit, 53-bit and 64-bit edges', () => {
    for (const v of [
      0n,
      1n,
      0x1234n,
      0xffffffffn,
      0x100000000n,
      (1n << 53n) - 1n,
      (1n << 53n) + 1n,
      0xfedcba9876543210n,
      (1n << 64n) - 1n,
    ]) {
      expect(u64(v)).toBe(v.toString(16).padStart(16, '0'));
    }
  });
  it('writes safe non-negative integers given as numbers', () => {
    expect(u64(0)).toBe('0000000000000000');
    expect(u64(-0)).toBe('0000000000000000');
    expect(u64(0xffffffff)).toBe('00000000ffffffff');
    expect(u64(2 ** 40 + 5)).toBe('0000010000000005');
    expect(u64(Number.MAX_SAFE_INTEGER)).toBe('001fffffffffffff');
  });
  it('rejects what is not a u64', () => {
    for (const v of [-1n, 1n << 64n, -(1n << 70n), -1, 1.5, 0.5, NaN, Infinity, 2 ** 53, 2 ** 64]) {
      expect(() => u64(v), String(v)).toThrow(RangeError);
    }
  });
});

describe('writeU32', () => {
  it('writes the edges and rejects the rest', () => {
    const b = Buffer.alloc(4);
    writeU32(b, 0, 0xffffffff);
    expect(b.toString('hex')).toBe('ffffffff');
    for (const v of [-1, 2 ** 32, 1.5, NaN]) expect(() => writeU32(b, 0, v), String(v)).toThrow(RangeError);
  });
});
