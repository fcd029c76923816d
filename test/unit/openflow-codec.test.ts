/** Codec unit tests: typed errors with offsets, names, builders, nesting, opaque forms, input types. */
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  encodeMessages,
  errorCodeName,
  flowMod,
  flowStatsRequest,
  hello,
  helloVersions,
  OfpDecodeError,
  OfpErrorMessage,
  OFPP,
  packetOut,
  type OfMessage,
} from '../../src/openflow/index.js';

const rt = (m: OfMessage): OfMessage => decodeMessage(encodeMessage(m));

describe('header and framing', () => {
  it('rejects short input and length mismatches with offsets', () => {
    expect(() => decodeMessage(Buffer.from('0400', 'hex'))).toThrow(OfpDecodeError);
    try {
      decodeMessage(Buffer.from('0414000900000001', 'hex'));
    } catch (e) {
      expect(e).toBeInstanceOf(OfpDecodeError);
      expect((e as OfpDecodeError).offset).toBe(2);
    }
  });
  it('reports the offset of a truncated field inside a FLOW_MOD', () => {
    const b = encodeMessage(flowMod({ match: [{ field: 'in_port', value: 1 }] }));
    const cut = Buffer.from(b.subarray(0, 52));
    cut.writeUInt16BE(cut.length, 2);
    const e = (() => {
      try {
        decodeMessage(cut);
      } catch (x) {
        return x as OfpDecodeError;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(OfpDecodeError);
    expect(e!.offset).toBeGreaterThanOrEqual(48);
    expect(e!.offset).toBeLessThanOrEqual(52);
  });
  it('accepts a plain Uint8Array view', () => {
    const b = encodeMessage({ type: 'BARRIER_REQUEST', xid: 7 });
    const ab = new Uint8Array(b.length + 3);
    ab.set(b, 3);
    expect(decodeMessage(ab.subarray(3))).toEqual({ type: 'BARRIER_REQUEST', xid: 7 });
  });
  it('keeps unknown message types and foreign versions opaque and byte-exact', () => {
    const unk = Buffer.from('041600100000000500000001000000ff', 'hex'); // QUEUE_GET_CONFIG_REQUEST
    const m = decodeMessage(unk);
    expect(m.type).toBe('UNKNOWN');
    expect(encodeMessage(m).equals(unk)).toBe(true);
    const v1 = Buffer.from('0105000800000009', 'hex');
    expect(decodeMessage(v1)).toMatchObject({ type: 'UNKNOWN', version: 1, msgType: 5, xid: 9 });
  });
});

describe('messages', () => {
  it('HELLO bitmaps, any version', () => {
    const h = rt(hello(3, [1, 4, 6])) as Extract<OfMessage, { type: 'HELLO' }>;
    expect(helloVersions(h)).toEqual([1, 4, 6]);
    const v6 = decodeMessage(encodeMessage({ ...hello(1, [6]), version: 6 }));
    expect(v6).toMatchObject({ type: 'HELLO', version: 6 });
  });
  it('ERROR names every type/code and carries the request bytes', () => {
    const req = encodeMessage(flowMod({ tableId: 254 }));
    const e = rt({ type: 'ERROR', xid: 4, errType: 5, code: 2, errTypeName: '', codeName: '', data: req });
    expect(e).toMatchObject({ errTypeName: 'OFPET_FLOW_MOD_FAILED', codeName: 'OFPFMFC_BAD_TABLE_ID' });
    expect(decodeMessage((e as Extract<OfMessage, { type: 'ERROR' }>).data)).toMatchObject({ type: 'FLOW_MOD', tableId: 254 });
    expect(errorCodeName(0xffff, 2306, 0x4f4e4600)).toBe('OFPBFC_BAD_TYPE');
    expect(errorCodeName(1, 9)).toBe('OFPBRC_BAD_TABLE_ID');
    const err = new OfpErrorMessage(e as Extract<OfMessage, { type: 'ERROR' }>);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain('OFPFMFC_BAD_TABLE_ID');
    expect(err.code).toBe(2);
  });
  it('flowMod builder fills OpenFlow defaults', () => {
    expect(flowMod({})).toMatchObject({
      command: 'add',
      priority: 0x8000,
      bufferId: 0xffffffff,
      outPort: OFPP.ANY,
      outGroup: 0xffffffff,
      cookie: 0n,
      match: [],
      instructions: [],
    });
  });
  it('BUNDLE_ADD nests a whole message', () => {
    const inner = flowMod({ xid: 9, tableId: 3, match: [{ field: 'reg6', value: 1 }] });
    const m = rt({ type: 'BUNDLE_ADD', xid: 9, bundleId: 77, flags: 3, message: inner });
    expect(m).toEqual({ type: 'BUNDLE_ADD', xid: 9, bundleId: 77, flags: 3, message: inner });
  });
  it('encodeMessages concatenates exactly what encodeMessage produces', () => {
    const msgs: OfMessage[] = [flowMod({ xid: 1, tableId: 2 }), { type: 'BARRIER_REQUEST', xid: 2 }, hello(3)];
    expect(encodeMessages(msgs).equals(Buffer.concat(msgs.map(encodeMessage)))).toBe(true);
  });
  it('encoded messages never share bytes, across slab turnovers and messages larger than a slab', () => {
    // encodeMessage hands out views of a shared slab: each must keep its own bytes whatever is encoded after it.
    const sizes = [0, 10, 900, 3000, 20_000, 60_000, 5];
    const made: { bytes: Buffer; m: OfMessage }[] = [];
    for (let i = 0; i < 400; i++) {
      const m =
        i % 7 === 3
          ? packetOut({
              xid: i,
              actions: [{ type: 'output', port: 1, maxLen: 0 }],
              data: Buffer.alloc(sizes[(i >> 3) % sizes.length]!, i & 0xff),
            })
          : flowMod({ xid: i, cookie: BigInt(i), tableId: i & 0xff, match: [{ field: 'reg0', value: i }] });
      made.push({ bytes: encodeMessage(m), m });
    }
    for (const { bytes, m } of made) {
      expect(bytes.length).toBe(bytes.readUInt16BE(2));
      expect(decodeMessage(bytes)).toEqual(m);
    }
    // Transferring a message's memory to a worker must not detach the slab the next messages are written into.
    const sent = encodeMessage({ type: 'BARRIER_REQUEST', xid: 3 });
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(sent, [sent.buffer as ArrayBuffer]);
    port1.close();
    port2.close();
    expect(decodeMessage(sent)).toEqual({ type: 'BARRIER_REQUEST', xid: 3 });
    expect(decodeMessage(encodeMessage({ type: 'BARRIER_REQUEST', xid: 4 }))).toEqual({ type: 'BARRIER_REQUEST', xid: 4 });
    // Writing into one view must not reach into the next.
    const a = encodeMessage({ type: 'BARRIER_REQUEST', xid: 1 });
    const b = encodeMessage({ type: 'BARRIER_REQUEST', xid: 2 });
    a.fill(0xee);
    expect(decodeMessage(b)).toEqual({ type: 'BARRIER_REQUEST', xid: 2 });
  });
  it('PACKET_OUT and flow stats request round trip', () => {
    const po = packetOut({ xid: 5, actions: [{ type: 'output', port: 'table', maxLen: 0 }], data: Buffer.alloc(60, 1) });
    expect(rt(po)).toEqual(po);
    const fs = flowStatsRequest({ xid: 6, cookie: 0x10n, cookieMask: 0xf0n });
    expect(rt(fs)).toEqual(fs);
  });
  it('64-bit values are bigint, including above 2^53', () => {
    const f = flowMod({ cookie: 0xfedcba9876543210n, match: [{ field: 'metadata', value: 0xffffffffffffffffn }] });
    expect(rt(f)).toEqual(f);
  });
  it('unknown OXM fields and actions survive', () => {
    const raw = Buffer.from('ffff0010000000650001020304050607', 'hex');
    const f = flowMod({
      match: [{ field: 'unknown', class: 0xffff, fieldNum: 3, hasMask: false, raw: Buffer.from('4f4e460001', 'hex') }],
      instructions: [{ type: 'apply_actions', actions: [{ type: 'unknown', raw }] }],
    });
    expect(rt(f)).toEqual(f);
  });
  it('friendly field values: MAC, IPv4, IPv6 text; numbers accepted for bigint fields', () => {
    const f = flowMod({
      match: [
        { field: 'eth_type', value: 0x86dd },
        { field: 'ipv6_src', value: '2001:DB8:0:0:0:0:0:1' },
        { field: 'eth_dst', value: 'AA:BB:CC:DD:EE:FF' },
        { field: 'metadata', value: 5 },
      ],
    });
    const back = rt(f) as Extract<OfMessage, { type: 'FLOW_MOD' }>;
    expect(back.match).toEqual([
      { field: 'eth_type', value: 0x86dd },
      { field: 'ipv6_src', value: '2001:db8::1' },
      { field: 'eth_dst', value: 'aa:bb:cc:dd:ee:ff' },
      { field: 'metadata', value: 5n },
    ]);
  });
  it('rejects nonsense on encode with a clear error', () => {
    expect(() => encodeMessage(flowMod({ match: [{ field: 'no_such_field', value: 1 }] }))).toThrow(/unknown match field/);
    expect(() => encodeMessage(flowMod({ match: [{ field: 'ipv4_dst', value: '10.0.0.300' }] }))).toThrow(/bad value/);
  });
});
