/**
 * Fuzz: random and mutated-valid messages. Only OfpDecodeError may escape decodeMessage; nothing hangs; the
 * decode never holds more buffer bytes than it was given; and whatever decodes re-encodes to the same bytes
 * (pad bytes excepted: read whatever they hold, written as zeros).
 * Runs: WYVERN_FUZZ_RUNS (default 100k per property).
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, flowMod, hello, OfpDecodeError, type OfMessage } from '../../src/openflow/index.js';

const RUNS = Number(process.env.WYVERN_FUZZ_RUNS ?? 100_000);
/** Generous per-property timeout that scales with the run count (≈ 0.3 ms per run on a loaded 2-core box). */
const TIMEOUT = Math.max(60_000, RUNS * 0.3);
const DIR = '/work/shared/testdata/ryu-of13/';

const extra: OfMessage[] = [
  hello(1),
  flowMod({
    tableId: 3,
    priority: 100,
    cookie: 0x1234n,
    match: [
      { field: 'in_port', value: 1 },
      { field: 'eth_type', value: 0x800 },
      { field: 'ipv4_dst', value: '10.0.0.0', mask: '255.255.255.0' },
      { field: 'metadata', value: 7n },
      { field: 'ct_label', value: 1n, mask: 3n },
    ],
    instructions: [
      {
        type: 'apply_actions',
        actions: [
          { type: 'set_field', field: 'eth_dst', value: '02:00:00:00:00:01' },
          { type: 'output', port: 5 },
          { type: 'set_field', field: 'reg0', value: 1, mask: 3 },
          { type: 'controller', maxLen: 100, userdata: Buffer.from([1, 2, 3]), pause: true },
          { type: 'note', data: Buffer.from('abcdef') },
          { type: 'dec_ttl', controllerIds: [1, 2, 3] },
          { type: 'resubmit', table: 3, ct: true },
          { type: 'output_reg', src: 'reg1', ofs: 0, nBits: 16, maxLen: 0, v2: true },
        ],
      },
      { type: 'write_metadata', metadata: 1n, mask: 1n },
      { type: 'meter', meterId: 1 },
      { type: 'goto_table', tableId: 20 },
    ],
  }),
  { type: 'BUNDLE_ADD', xid: 20, bundleId: 1, flags: 1, message: flowMod({ tableId: 2, match: [{ field: 'reg6', value: 1 }] }) },
  { type: 'BUNDLE_CONTROL', xid: 18, bundleId: 1, controlType: 'commit_request', flags: 1 },
  {
    type: 'NX_PACKET_IN2',
    xid: 0,
    packet: Buffer.alloc(60, 1),
    tableId: 3,
    cookie: 0x9n,
    reason: 1,
    match: [{ field: 'in_port', value: 2 }],
    userdata: Buffer.from([1, 2]),
    continuation: Buffer.alloc(8, 2),
  },
  { type: 'NX_SET_PACKET_IN_FORMAT', xid: 1, format: 2 },
  {
    type: 'PACKET_IN',
    xid: 0,
    bufferId: 0xffffffff,
    totalLen: 60,
    reason: 1,
    tableId: 3,
    cookie: 5n,
    match: [
      { field: 'in_port', value: 2 },
      { field: 'metadata', value: 7n },
    ],
    data: Buffer.alloc(60, 3),
  },
  {
    type: 'MULTIPART_REPLY',
    xid: 1,
    flags: 0,
    body: { kind: 'meter_config', meters: [{ flags: 1, meterId: 1, bands: [{ type: 'drop', rate: 1, burstSize: 2 }] }] },
  },
  {
    type: 'METER_MOD',
    xid: 17,
    command: 0,
    flags: 5,
    meterId: 1,
    bands: [{ type: 'dscp_remark', rate: 2000, burstSize: 0, precLevel: 1 }],
  },
  {
    type: 'MULTIPART_REQUEST',
    xid: 2,
    flags: 0,
    body: {
      kind: 'flow_monitor',
      monitors: [{ id: 1, flags: 14, outPort: 0xffffffff, tableId: 0xff, match: [{ field: 'in_port', value: 1 }] }],
    },
  },
  {
    type: 'MULTIPART_REPLY',
    xid: 0,
    flags: 0,
    body: {
      kind: 'flow_monitor',
      updates: [
        {
          event: 'deleted',
          reason: 2,
          priority: 100,
          idleTimeout: 0,
          hardTimeout: 0,
          tableId: 3,
          cookie: 7n,
          match: [{ field: 'reg6', value: 4 }],
          instructions: [{ type: 'goto_table', tableId: 4 }],
        },
        { event: 'abbrev', xid: 9 },
      ],
    },
  },
];
const corpus: Buffer[] = [
  ...readdirSync(DIR)
    .filter((f) => f.endsWith('.packet'))
    .map((f) => readFileSync(DIR + f)),
  ...extra.map(encodeMessage),
];

function setLength(b: Buffer): Buffer {
  if (b.length >= 4 && b.length <= 0xffff) b.writeUInt16BE(b.length, 2);
  return b;
}

/** Total bytes held in Buffers by a decoded value. */
function heldBytes(v: unknown, seen = new Set<unknown>()): number {
  if (Buffer.isBuffer(v)) return v.length;
  if (v === null || typeof v !== 'object' || seen.has(v)) return 0;
  seen.add(v);
  let n = 0;
  for (const x of Object.values(v as object)) n += heldBytes(x, seen);
  return n;
}

type Outcome = 'decoded' | 'rejected';

function check(bytes: Buffer, roundTrip: boolean): Outcome {
  const t0 = performance.now();
  let msg: OfMessage;
  try {
    msg = decodeMessage(bytes);
  } catch (e) {
    if (!(e instanceof OfpDecodeError)) throw new Error(`non-OfpDecodeError escaped for ${bytes.toString('hex')}: ${String(e)}`);
    expect(e.offset).toBeGreaterThanOrEqual(0);
    expect(e.offset).toBeLessThanOrEqual(bytes.length);
    return 'rejected';
  } finally {
    expect(performance.now() - t0).toBeLessThan(250);
  }
  expect(heldBytes(msg)).toBeLessThanOrEqual(bytes.length);
  if (roundTrip) {
    // Pad bytes are read whatever they hold and written as zeros: the re-encoding may differ from the input
    // only where it wrote a zero, and it is a fixed point (decoding it and encoding again changes nothing).
    const again = encodeMessage(msg);
    const onlyPads = again.length === bytes.length && again.every((x, i) => x === bytes[i] || x === 0);
    if (!onlyPads || !encodeMessage(decodeMessage(again)).equals(again))
      throw new Error(`round trip differs\n in  ${bytes.toString('hex')}\n out ${again.toString('hex')}`);
  }
  return 'decoded';
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('u16' as const), pos: fc.nat(), value: fc.constantFrom(0, 1, 4, 7, 8, 0xff, 0xffff, 0x8000) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(src: Buffer, muts: Mutation[], fixLen: boolean): Buffer {
  let b = Buffer.from(src);
  for (const m of muts) {
    if (b.length === 0) break;
    const pos = m.pos % b.length;
    switch (m.kind) {
      case 'set':
        b[pos] = m.byte;
        break;
      case 'flip':
        b[pos] = b[pos]! ^ (1 << m.bit);
        break;
      case 'truncate':
        b = b.subarray(0, pos);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, pos), Buffer.from(m.bytes), b.subarray(pos)]);
        break;
      case 'u16':
        if (pos + 1 < b.length) b.writeUInt16BE(m.value, pos);
        break;
    }
  }
  return fixLen ? setLength(b) : b;
}

describe('OpenFlow codec fuzz', () => {
  it(
    `random messages (${RUNS} runs)`,
    () => {
      const msg = fc.oneof(
        fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
        fc
          .tuple(fc.integer({ min: 0, max: 35 }), fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 0xffffffff }))
          .map(([type, body, xid]) => {
            const b = Buffer.alloc(8 + body.length);
            b[0] = 4;
            b[1] = type;
            b.writeUInt16BE(b.length, 2);
            b.writeUInt32BE(xid, 4);
            Buffer.from(body).copy(b, 8);
            return b;
          }),
      );
      fc.assert(
        fc.property(msg, (b) => {
          check(b, true);
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    `mutated valid messages decode or fail typed, and re-encode identically (${RUNS} runs)`,
    () => {
      let decoded = 0;
      fc.assert(
        fc.property(
          fc.nat({ max: corpus.length - 1 }),
          fc.array(mutation, { minLength: 1, maxLength: 4 }),
          fc.boolean(),
          (i, muts, fixLen) => {
            if (check(mutate(corpus[i]!, muts, fixLen), true) === 'decoded') decoded++;
          },
        ),
        { numRuns: RUNS },
      );
      // The property is only meaningful if plenty of mutants still decode.
      expect(decoded).toBeGreaterThan(RUNS / 10);
    },
    TIMEOUT,
  );

  it('every corpus message round-trips', () => {
    for (const b of corpus) expect(check(b, true)).toBe('decoded');
  });
});
