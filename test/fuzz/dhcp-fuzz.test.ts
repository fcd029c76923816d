// Fuzz: handleDhcp on ≥100k mutated real/valid DHCP frames and ≥100k structurally generated DHCP requests
// with garbage options. It must never throw; whatever it answers must parse and respect the size limit.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handleDhcp, type DhcpDecision } from '../../src/apps/dhcp/index.js';
import { DHCP_MAGIC, PacketError, buildUdpIpv4Frame, parseFrame, tryParseFrame } from '../../src/packet/index.js';
import { PORT_MAC, baseCtx, clientFrame, fixtureFrames } from '../fixtures/dhcp/helpers.js';
import { mutated } from '../fixtures/dhcp/fuzz.js';

const RUNS = 100_000;
const COUNTERS = new Set(['malformed', 'not_for_us', 'release', 'decline', 'ignored']);

function bases(): Buffer[] {
  const fx = [...fixtureFrames('udhcpc.pcap'), ...fixtureFrames('dhclient.pcap')];
  return [
    ...fx,
    clientFrame({ type: 1, prl: [1, 3, 6, 12, 15, 26, 28, 121, 249] }),
    clientFrame({ type: 3, serverId: '10.77.0.1', requestedIp: '10.77.0.54', maxSize: 1500 }),
    clientFrame({ type: 3, ciaddr: '10.77.0.54' }),
    clientFrame({ type: 8, ciaddr: '10.77.0.54', giaddr: '10.77.0.250' }),
  ];
}

function checkDecision(input: Buffer, d: DhcpDecision, tally: Map<string, number>): void {
  const p = tryParseFrame(input);
  if (p instanceof PacketError || (p.dhcpError && p.udp?.dstPort === 67)) expect(d).toMatchObject({ action: 'drop', counter: 'malformed' });
  if (d.action === 'drop') {
    expect(COUNTERS.has(d.counter)).toBe(true);
    tally.set(d.counter, (tally.get(d.counter) ?? 0) + 1);
    return;
  }
  tally.set(d.kind, (tally.get(d.kind) ?? 0) + 1);
  const f = parseFrame(d.frame);
  expect(f.dhcp!.op).toBe(2);
  expect(f.ipv4!.totalLength).toBeLessThanOrEqual(1450);
}

/** A DHCP request frame whose options area is arbitrary: valid options, wrong lengths, garbage. */
const structured = fc
  .record({
    type: fc.integer({ min: 0, max: 10 }),
    flags: fc.constantFrom(0, 0x8000, 0xffff),
    ciaddr: fc.constantFrom('0.0.0.0', '10.77.0.54', '10.77.0.9'),
    giaddr: fc.constantFrom('0.0.0.0', '0.0.0.0', '10.77.0.250'),
    opts: fc.array(
      fc.oneof(
        fc
          .tuple(fc.constantFrom(50, 54, 57, 55, 61, 52, 12, 82, 121, 53, 0, 255), fc.uint8Array({ maxLength: 12 }))
          .map(([c, v]) => [c, v.length, ...v]),
        fc.tuple(fc.constantFrom(50, 54), fc.constantFrom([10, 77, 0, 1], [10, 77, 0, 54], [1, 2, 3, 4])).map(([c, v]) => [c, 4, ...v]),
        fc
          .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 8 }))
          .map(([c, l, v]) => [c, l, ...v]),
        fc.uint8Array({ maxLength: 6 }).map((v) => [...v]),
      ),
      { maxLength: 12 },
    ),
    fileArea: fc.uint8Array({ minLength: 0, maxLength: 128 }),
    endTag: fc.boolean(),
  })
  .map(({ type, flags, ciaddr, giaddr, opts, fileArea, endTag }) => {
    const body = Buffer.from([53, 1, type, ...opts.flat(), ...(endTag ? [255] : [])]);
    const p = Buffer.alloc(240 + body.length);
    p[0] = 1;
    p[1] = 1;
    p[2] = 6;
    p.writeUInt32BE(0xabcdef01, 4);
    p.writeUInt16BE(flags, 10);
    p.set(ciaddr.split('.').map(Number), 12);
    p.set(giaddr.split('.').map(Number), 24);
    p.write(PORT_MAC.replace(/:/g, ''), 28, 'hex');
    Buffer.from(fileArea).copy(p, 108);
    p.writeUInt32BE(DHCP_MAGIC, 236);
    body.copy(p, 240);
    return buildUdpIpv4Frame({
      srcMac: PORT_MAC,
      dstMac: 'ff:ff:ff:ff:ff:ff',
      src: '0.0.0.0',
      dst: '255.255.255.255',
      srcPort: 68,
      dstPort: 67,
      payload: p,
    });
  });

describe('fuzz handleDhcp', () => {
  it(`${RUNS} mutated valid DHCP frames: never throws`, () => {
    const tally = new Map<string, number>();
    const ctx = baseCtx();
    fc.assert(
      fc.property(mutated(bases()), (b) => checkDecision(b, handleDhcp(b, ctx, 0), tally)),
      { numRuns: RUNS },
    );
    expect(tally.get('malformed')).toBeGreaterThan(0);
    expect((tally.get('OFFER') ?? 0) + (tally.get('ACK') ?? 0)).toBeGreaterThan(0);
  }, 300_000);

  it(`${RUNS} generated requests with garbage options: never throws, malformed → drop 'malformed'`, () => {
    const tally = new Map<string, number>();
    const ctx = baseCtx();
    fc.assert(
      fc.property(structured, (b) => checkDecision(b, handleDhcp(b, ctx, 0), tally)),
      { numRuns: RUNS },
    );
    for (const k of ['malformed', 'OFFER', 'ACK', 'NAK']) expect(tally.get(k) ?? 0).toBeGreaterThan(0);
  }, 300_000);
});
