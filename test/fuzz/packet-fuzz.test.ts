// Fuzz: parseFrame on ≥100k random and ≥100k mutated-valid frames per run. Only PacketError may escape,
// with an offset inside the buffer; whatever parses must be self-consistent.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PacketError, parseFrame } from '../../src/packet/index.js';
import { corpus, mutated } from '../fixtures/dhcp/fuzz.js';

const RUNS = 100_000;

function check(b: Buffer): void {
  try {
    const f = parseFrame(b);
    if (f.ipv4) expect(f.ipv4.payloadEnd).toBeLessThanOrEqual(b.length);
    if (f.udp) expect(f.udp.payloadEnd).toBeLessThanOrEqual(b.length);
    if (f.dhcpError) expect(f.dhcpError.offset).toBeLessThanOrEqual(b.length);
  } catch (e) {
    if (!(e instanceof PacketError)) throw e;
    if (e.offset < 0 || e.offset > b.length) throw new Error(`offset ${e.offset} outside a ${b.length}-byte frame: ${e.message}`);
  }
}

describe('fuzz parseFrame', () => {
  it(`${RUNS} random frames: only PacketError escapes`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (a) => check(Buffer.from(a))),
      { numRuns: RUNS },
    );
  }, 300_000);

  it(`${RUNS} mutated valid frames: only PacketError escapes`, () => {
    fc.assert(fc.property(mutated(corpus()), check), { numRuns: RUNS });
  }, 300_000);
});
