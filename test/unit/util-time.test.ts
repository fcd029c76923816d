import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { httpDate, isoTime } from '../../src/util/time.js';

// The whole range a Date holds (±8.64e15 ms), and the years HTTP dates are written for.
const anyTime = fc.integer({ min: -8.64e15, max: 8.64e15 });
const httpTime = fc.integer({ min: Date.parse('0000-01-01T00:00:00Z'), max: Date.parse('9999-12-31T23:59:59.999Z') });

describe('timestamps from the UTC fields', () => {
  it('isoTime is toISOString, for every time a Date holds', () => {
    fc.assert(
      fc.property(anyTime, (ms) => {
        expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 5_000 },
    );
    for (const ms of [0, -1, 8.64e15, -8.64e15, Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), -62198755200000])
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('isoTime within one second and across it, and for fractional and negative times, as toISOString', () => {
    const base = Date.UTC(2026, 11, 6, 8, 4, 40);
    for (const ms of [base, base + 1, base + 999, base + 1000, base - 1, base + 0.7, -0.5, -1.5, -999.9, 0.9, -0])
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    fc.assert(
      fc.property(fc.double({ min: -8.64e15, max: 8.64e15, noNaN: true }), (ms) => {
        expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 5_000 },
    );
  });

  it('isoTime refuses an invalid time as toISOString does', () => {
    expect(() => isoTime(NaN)).toThrow(RangeError);
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
    expect(() => isoTime(Infinity)).toThrow(RangeError);
  });

  it('httpDate is toUTCString for years 0–9999 (IMF-fixdate)', () => {
    fc.assert(
      fc.property(httpTime, (ms) => {
        expect(httpDate(ms)).toBe(new Date(ms).toUTCString());
      }),
      { numRuns: 5_000 },
    );
    expect(httpDate(Date.UTC(2026, 11, 6, 8, 4, 40))).toBe('Sun, 06 Dec 2026 08:04:40 GMT');
  });

  it('a fraction of a millisecond does not move either into another second (time values are truncated, then floored)', () => {
    // In this order, each reusing the second the one before made when the second is the same.
    for (const ms of [-0.5, -1, -999.9, -1000.5, -1001, 0.5, 999.9, 1000.1]) {
      expect(httpDate(ms)).toBe(new Date(ms).toUTCString());
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });
});
