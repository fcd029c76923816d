import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Backoff } from '../../src/openflow/channel/backoff.js';
import { formatEndpoint, parseEndpoint } from '../../src/openflow/channel/endpoint.js';
import { OfFramingError } from '../../src/openflow/channel/errors.js';
import { Framer } from '../../src/openflow/channel/framer.js';
import { echoReplyFor, helloBytes, negotiate } from '../../src/openflow/channel/raw.js';
import { allocateBlock, XidAllocator } from '../../src/openflow/channel/xid.js';

/** A fake message of `len` bytes whose body bytes all equal `tag`. */
function msg(len: number, tag: number, xid = tag): Buffer {
  const b = Buffer.alloc(len, tag);
  b[0] = 4;
  b[1] = 99;
  b.writeUInt16BE(len, 2);
  b.writeUInt32BE(xid, 4);
  return b;
}

function frameAll(chunks: Buffer[]): Buffer[] {
  const f = new Framer();
  const out: Buffer[] = [];
  for (const c of chunks) f.push(c, (m) => out.push(Buffer.from(m)));
  return out;
}

describe('Framer', () => {
  it('splits concatenated messages and keeps them whole', () => {
    const msgs = [msg(8, 1), msg(16, 2), msg(1000, 3), msg(65535, 4)];
    expect(frameAll([Buffer.concat(msgs)])).toEqual(msgs);
  });

  it('reassembles messages split at every possible byte', () => {
    const msgs = [msg(24, 1), msg(8, 2), msg(40, 3)];
    const all = Buffer.concat(msgs);
    for (let cut = 0; cut <= all.length; cut++) {
      expect(frameAll([all.subarray(0, cut), all.subarray(cut)])).toEqual(msgs);
    }
  });

  it('reassembles one byte at a time', () => {
    const msgs = [msg(24, 1), msg(8, 2), msg(300, 3)];
    const all = Buffer.concat(msgs);
    const chunks = [...all].map((b) => Buffer.from([b]));
    expect(frameAll(chunks)).toEqual(msgs);
  });

  it('gives the same messages for any chunking (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 8, max: 3000 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 30 }),
        (lens, cuts) => {
          const msgs = lens.map((l, i) => msg(l, (i % 250) + 1));
          const all = Buffer.concat(msgs);
          const chunks: Buffer[] = [];
          let pos = 0;
          for (const c of cuts) {
            if (pos >= all.length) break;
            chunks.push(all.subarray(pos, pos + c));
            pos += c;
          }
          if (pos < all.length) chunks.push(all.subarray(pos));
          const got = frameAll(chunks);
          return got.length === msgs.length && got.every((m, i) => m.equals(msgs[i]!));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('holds only the incomplete tail', () => {
    const f = new Framer();
    const got: Buffer[] = [];
    f.push(Buffer.concat([msg(16, 1), msg(32, 2).subarray(0, 5)]), (m) => got.push(m));
    expect(got).toHaveLength(1);
    expect(f.buffered).toBe(5);
  });

  it('rejects a header announcing fewer than 8 bytes, with the stream offset', () => {
    const bad = msg(8, 2);
    bad.writeUInt16BE(4, 2);
    const f = new Framer();
    let err: unknown;
    try {
      f.push(Buffer.concat([msg(16, 1), bad]), () => undefined);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OfFramingError);
    expect((err as OfFramingError).offset).toBe(18);
  });
});

describe('xids', () => {
  it('never hands out 0 and wraps', () => {
    const a = new XidAllocator(0xfffffffe);
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual([0xfffffffe, 0xffffffff, 1]);
  });

  it('skips busy xids', () => {
    const a = new XidAllocator(5);
    expect(a.allocate((x) => x === 5 || x === 6)).toBe(7);
  });

  it('allocates contiguous blocks that never wrap', () => {
    const a = new XidAllocator(10);
    expect(allocateBlock(a, 100)).toBe(10);
    expect(a.allocate()).toBe(110);
    const b = new XidAllocator(0xffffff00);
    expect(allocateBlock(b, 0x200)).toBe(1);
    expect(b.allocate()).toBe(0x201);
  });
});

describe('Backoff', () => {
  it('doubles from min to max with jitter in [75%, 100%]', () => {
    const hi = new Backoff({ minMs: 100, maxMs: 1000, random: () => 1 });
    expect([1, 2, 3, 4, 5].map(() => hi.next())).toEqual([100, 200, 400, 800, 1000]);
    hi.reset();
    expect(hi.next()).toBe(100);
    const lo = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0 });
    expect(lo.next()).toBe(75);
  });
});

describe('endpoints', () => {
  it('parses OVS-style endpoints', () => {
    expect(parseEndpoint('unix:/run/openvswitch/br-int.mgmt')).toEqual({ kind: 'unix', path: '/run/openvswitch/br-int.mgmt' });
    expect(parseEndpoint('tcp:127.0.0.1:6653')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 6653 });
    expect(parseEndpoint('ssl:[::1]:6654')).toEqual({ kind: 'ssl', host: '::1', port: 6654 });
    expect(parseEndpoint('tcp:example')).toEqual({ kind: 'tcp', host: 'example', port: 6653 });
    expect(parseEndpoint('ptcp:0:127.0.0.1')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    expect(formatEndpoint(parseEndpoint('ssl:[::1]:6654'))).toBe('ssl:[::1]:6654');
    for (const bad of ['', 'udp:1.2.3.4:5', 'tcp:', 'tcp:1.2.3.4:99999', 'unix:']) expect(() => parseEndpoint(bad)).toThrow();
  });
});

describe('raw HELLO and echo', () => {
  it('announces OpenFlow 1.3 in a version bitmap', () => {
    expect(helloBytes(7).toString('hex')).toBe('0400001000000007' + '0001000800000010');
  });

  it('negotiates 1.3 from a bitmap, or from the header version without one', () => {
    const ovs = Buffer.from('0600001000000001' + '0001000800000072', 'hex'); // OVS offering 1.0, 1.3, 1.4 and 1.5
    expect(negotiate(ovs)).toBe(4);
    const only10 = Buffer.from('0600001000000001' + '0001000800000002', 'hex');
    expect(negotiate(only10)).toBeUndefined();
    expect(negotiate(Buffer.from('0500000800000001', 'hex'))).toBe(4);
    expect(negotiate(Buffer.from('0100000800000001', 'hex'))).toBeUndefined();
  });

  it('echoes the request payload back with the same xid', () => {
    const req = Buffer.from('04020009000000abff', 'hex');
    expect(echoReplyFor(req).toString('hex')).toBe('04030009000000abff');
  });
});
