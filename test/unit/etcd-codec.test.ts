/**
 * Our etcd protobuf codec against an independent oracle: protobufjs reading etcd's own rpc.proto (the copy the
 * etcd3 package ships, a devDependency). Requests we encode must decode there to the same message; responses
 * protobufjs encodes from random values must decode here to the same values; random bytes must only ever give
 * a ProtoDecodeError.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import * as m from '../../src/store/etcd-client/messages.js';
import { ProtoDecodeError, ProtoReader, ProtoWriter } from '../../src/store/etcd-client/proto.js';

const protoDir = join(dirname(createRequire(import.meta.url).resolve('etcd3/package.json')), 'proto');
// keepCase: the .proto's own field names (protobufjs camel-cases them by default), as our messages use.
const root = new protobuf.Root().loadSync(join(protoDir, 'rpc.proto'), { keepCase: true });
const T = (name: string): protobuf.Type => root.lookupType(name);
const toObj = (type: string, b: Buffer): Record<string, unknown> =>
  T(type).toObject(T(type).decode(b), { longs: String, bytes: Buffer, defaults: true, oneofs: false, arrays: true }) as never;

// Arbitraries
const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
const rev = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 1000 }),
  fc.maxSafeInteger().filter((n) => n >= 0),
);
const leaseId = fc.oneof(fc.constant('0'), fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }).map(String));
const buf = (b: Buffer): string => b.toString('hex');

describe('etcd codec: requests we encode, protobufjs decodes', () => {
  it('RangeRequest', () => {
    fc.assert(
      fc.property(bytes, bytes, rev, rev, fc.boolean(), fc.boolean(), (key, end, limit, revision, ser, count) => {
        const b = m.encode(m.encodeRange, { key, range_end: end, limit, revision, serializable: ser, count_only: count });
        const o = toObj('etcdserverpb.RangeRequest', b);
        expect([buf(o.key as Buffer), buf(o.range_end as Buffer), o.limit, o.revision, o.serializable, o.count_only]).toEqual([
          buf(key),
          buf(end),
          String(limit),
          String(revision),
          ser,
          count,
        ]);
      }),
    );
  });

  it('PutRequest with lease ids beyond 2^53', () => {
    fc.assert(
      fc.property(bytes, bytes, leaseId, (key, value, lease) => {
        const o = toObj('etcdserverpb.PutRequest', m.encode(m.encodePut, { key, value, lease }));
        expect([buf(o.key as Buffer), buf(o.value as Buffer), o.lease]).toEqual([buf(key), buf(value), lease]);
      }),
    );
  });

  it('keys and values given as strings encode exactly as their UTF-8 bytes (empty compare value kept)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (k, v) => {
        const asText: m.TxnRequest = {
          compare: [{ key: k, value: v, result: m.CompareResult.Equal, target: m.CompareTarget.Value }],
          success: [{ request_put: { key: k, value: v } }, { request_delete_range: { key: k } }],
          failure: [],
        };
        const asBytes: m.TxnRequest = {
          compare: [{ key: Buffer.from(k), value: Buffer.from(v), result: m.CompareResult.Equal, target: m.CompareTarget.Value }],
          success: [{ request_put: { key: Buffer.from(k), value: Buffer.from(v) } }, { request_delete_range: { key: Buffer.from(k) } }],
          failure: [],
        };
        expect(m.encode(m.encodeTxn, asText).equals(m.encode(m.encodeTxn, asBytes))).toBe(true);
      }),
    );
  });

  it('TxnRequest: compares (mod revision 0 and empty values kept), puts, deletes, ranges, nested', () => {
    const compare = fc.oneof(
      fc.record({ key: bytes, mod_revision: rev }).map((c) => ({ ...c, result: m.CompareResult.Equal, target: m.CompareTarget.Mod })),
      fc.record({ key: bytes, value: bytes }).map((c) => ({ ...c, result: m.CompareResult.NotEqual, target: m.CompareTarget.Value })),
      fc.record({ key: bytes, lease: leaseId }).map((c) => ({ ...c, result: m.CompareResult.Greater, target: m.CompareTarget.Lease })),
    );
    const op = fc.oneof(
      fc.record({ key: bytes, value: bytes, lease: leaseId }).map((p) => ({ request_put: p })),
      fc.record({ key: bytes, range_end: bytes }).map((d) => ({ request_delete_range: d })),
      fc.record({ key: bytes, count_only: fc.boolean() }).map((r) => ({ request_range: r })),
    );
    fc.assert(
      fc.property(fc.array(compare, { maxLength: 4 }), fc.array(op, { maxLength: 4 }), fc.array(op, { maxLength: 3 }), (cs, ok, ko) => {
        const req: m.TxnRequest = {
          compare: cs,
          success: [...ok, { request_txn: { compare: [], success: ok, failure: [] } }],
          failure: ko,
        };
        const o = toObj('etcdserverpb.TxnRequest', m.encode(m.encodeTxn, req)) as never as {
          compare: Record<string, unknown>[];
          success: Record<string, Record<string, unknown>>[];
          failure: unknown[];
        };
        expect(o.compare.length).toBe(cs.length);
        cs.forEach((c, i) => {
          const d = o.compare[i]!;
          expect(buf(d.key as Buffer)).toBe(buf(c.key));
          expect(d.target).toBe(c.target);
          expect(d.result).toBe(c.result);
          // The oneof member is present even at its default value: that is what "key absent" (mod 0) needs.
          if ('mod_revision' in c) expect(d.mod_revision).toBe(String(c.mod_revision));
          if ('value' in c) expect(buf(d.value as Buffer)).toBe(buf(c.value));
          if ('lease' in c) expect(d.lease).toBe(c.lease);
          const which = T('etcdserverpb.Compare').decode(
            m.encode((w, x: m.Compare) => m.encodeTxn(w, { compare: [x], success: [], failure: [] }), c).subarray(2),
          );
          expect((which as never as { target_union: string }).target_union).toBe(
            Object.keys(c).find((k) => ['mod_revision', 'value', 'lease'].includes(k)),
          );
        });
        expect(o.success.length).toBe(ok.length + 1);
        ok.forEach((x, i) => {
          const d = o.success[i]!;
          if ('request_put' in x) {
            expect(buf(d.request_put!.key as Buffer)).toBe(buf(x.request_put.key));
            expect(buf(d.request_put!.value as Buffer)).toBe(buf(x.request_put.value));
            expect(d.request_put!.lease).toBe(x.request_put.lease);
          } else if ('request_delete_range' in x) {
            expect(buf(d.request_delete_range!.range_end as Buffer)).toBe(buf(x.request_delete_range.range_end));
          } else expect(d.request_range!.count_only).toBe(x.request_range.count_only);
        });
        expect((o.success[ok.length]!.request_txn!.success as unknown[]).length).toBe(ok.length);
        expect(o.failure.length).toBe(ko.length);
      }),
    );
  });

  it('WatchRequest: create (start revision, prev_kv, progress_notify, filters), cancel, progress', () => {
    fc.assert(
      fc.property(
        bytes,
        bytes,
        rev,
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.constantFrom(0, 1), { maxLength: 2 }),
        rev,
        (key, end, start, prev, prog, filters, id) => {
          const o = toObj(
            'etcdserverpb.WatchRequest',
            m.encode(m.encodeWatchRequest, {
              create_request: { key, range_end: end, start_revision: start, prev_kv: prev, progress_notify: prog, filters },
            }),
          ) as { create_request: Record<string, unknown> };
          const c = o.create_request;
          expect([buf(c.key as Buffer), buf(c.range_end as Buffer), c.start_revision, c.prev_kv, c.progress_notify, c.filters]).toEqual([
            buf(key),
            buf(end),
            String(start),
            prev,
            prog,
            filters,
          ]);
          const x = toObj('etcdserverpb.WatchRequest', m.encode(m.encodeWatchRequest, { cancel_request: { watch_id: id } })) as {
            cancel_request: { watch_id: string };
          };
          expect(x.cancel_request.watch_id).toBe(String(id));
        },
      ),
    );
    const p = T('etcdserverpb.WatchRequest').decode(m.encode(m.encodeWatchRequest, { progress_request: {} })) as never as {
      request_union: string;
    };
    expect(p.request_union).toBe('progress_request');
  });

  it('Lease, Compaction and Authenticate requests', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e9 }), leaseId, rev, fc.string(), fc.string(), (ttl, id, r, name, pw) => {
        expect(toObj('etcdserverpb.LeaseGrantRequest', m.encode(m.encodeLeaseGrant, { TTL: ttl, ID: id }))).toMatchObject({
          TTL: String(ttl),
          ID: id,
        });
        expect(toObj('etcdserverpb.LeaseKeepAliveRequest', m.encode(m.encodeLeaseId, { ID: id }))).toMatchObject({ ID: id });
        expect(toObj('etcdserverpb.LeaseRevokeRequest', m.encode(m.encodeLeaseId, { ID: id }))).toMatchObject({ ID: id });
        expect(toObj('etcdserverpb.CompactionRequest', m.encode(m.encodeCompaction, { revision: r, physical: true }))).toMatchObject({
          revision: String(r),
          physical: true,
        });
        expect(toObj('etcdserverpb.AuthenticateRequest', m.encode(m.encodeAuthenticate, { name, password: pw }))).toMatchObject({
          name,
          password: pw,
        });
      }),
    );
  });
});

// ---- responses: protobufjs encodes, we decode ----

const header = fc.record({
  cluster_id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
  member_id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
  revision: rev,
  raft_term: rev,
});
const kv = fc.record({ key: bytes, create_revision: rev, mod_revision: rev, version: rev, value: bytes, lease: leaseId });

/** protobufjs wants longs as strings/numbers; give it ours as they are (strings for ids, numbers for revisions). */
function pbEncode(type: string, obj: unknown): Buffer {
  const t = T(type);
  return Buffer.from(t.encode(t.fromObject(obj as never)).finish());
}

const hex = (x: unknown): unknown =>
  Buffer.isBuffer(x)
    ? x.toString('hex')
    : Array.isArray(x)
      ? x.map(hex)
      : x && typeof x === 'object'
        ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, hex(v)]))
        : x;

describe('etcd codec: responses protobufjs encodes, we decode', () => {
  it('RangeResponse (ids beyond 2^53 exact)', () => {
    fc.assert(
      fc.property(header, fc.array(kv, { maxLength: 5 }), fc.boolean(), rev, (h, kvs, more, count) => {
        const got = m.decode(m.decodeRangeResponse, pbEncode('etcdserverpb.RangeResponse', { header: h, kvs, more, count }));
        expect(hex(got)).toEqual(hex({ header: h, kvs, more, count }));
      }),
    );
  });

  it('TxnResponse with every kind of ResponseOp', () => {
    fc.assert(
      fc.property(header, fc.boolean(), fc.array(kv, { maxLength: 3 }), rev, (h, ok, kvs, deleted) => {
        const responses = [
          { response_range: { header: h, kvs, more: false, count: kvs.length } },
          { response_put: { header: h, ...(kvs[0] ? { prev_kv: kvs[0] } : {}) } },
          { response_delete_range: { header: h, deleted, prev_kvs: kvs } },
          { response_txn: { header: h, succeeded: !ok, responses: [] } },
        ];
        const got = m.decode(m.decodeTxnResponse, pbEncode('etcdserverpb.TxnResponse', { header: h, succeeded: ok, responses }));
        expect(hex(got)).toEqual(hex({ header: h, succeeded: ok, responses }));
      }),
    );
  });

  it('WatchResponse: events with prev_kv, created, canceled, compact_revision, cancel_reason, negative watch id', () => {
    const event = fc.record({ type: fc.constantFrom(0, 1), kv, prev_kv: fc.option(kv, { nil: undefined }) });
    fc.assert(
      fc.property(
        header,
        fc.integer({ min: -1, max: 1e6 }),
        fc.boolean(),
        fc.boolean(),
        rev,
        fc.string(),
        fc.array(event, { maxLength: 4 }),
        (h, id, created, canceled, compact, reason, events) => {
          const msg = {
            header: h,
            watch_id: id,
            created,
            canceled,
            compact_revision: compact,
            cancel_reason: reason,
            fragment: false,
            events,
          };
          const got = m.decode(m.decodeWatchResponse, pbEncode('etcdserverpb.WatchResponse', msg));
          const want = { ...msg, events: events.map((e) => (e.prev_kv ? e : { type: e.type, kv: e.kv })) };
          expect(hex(got)).toEqual(hex(want));
        },
      ),
    );
  });

  it('Lease, Status and Authenticate responses', () => {
    fc.assert(
      fc.property(header, leaseId, fc.integer({ min: -1, max: 1e6 }), fc.string(), (h, id, ttl, s) => {
        expect(
          m.decode(m.decodeLeaseGrantResponse, pbEncode('etcdserverpb.LeaseGrantResponse', { header: h, ID: id, TTL: ttl, error: s })),
        ).toEqual({
          header: h,
          ID: id,
          TTL: ttl,
          error: s,
        });
        expect(
          m.decode(m.decodeLeaseKeepAliveResponse, pbEncode('etcdserverpb.LeaseKeepAliveResponse', { header: h, ID: id, TTL: ttl })),
        ).toEqual({
          header: h,
          ID: id,
          TTL: ttl,
        });
        expect(
          m.decode(m.decodeStatusResponse, pbEncode('etcdserverpb.StatusResponse', { header: h, version: s, dbSize: 12345, leader: 7 })),
        ).toEqual({
          header: h,
          version: s,
        });
        expect(m.decode(m.decodeAuthenticateResponse, pbEncode('etcdserverpb.AuthenticateResponse', { header: h, token: s }))).toEqual({
          header: h,
          token: s,
        });
      }),
    );
  });

  it('skips unknown fields of every wire type (a newer etcd adding fields)', () => {
    const w = new ProtoWriter();
    w.message(1, (x) => x.int64(3, 42));
    w.tag(99, 0); // varint
    w.varint64(-5n);
    w.tag(98, 1); // fixed64
    w.bytes(0, Buffer.alloc(0));
    const f64 = Buffer.alloc(8, 7);
    const f32 = Buffer.alloc(4, 9);
    const tail = new ProtoWriter();
    tail.tag(97, 5);
    const group = new ProtoWriter();
    group.tag(96, 3);
    group.tag(1, 0);
    group.varint(1);
    group.tag(96, 4);
    const b = Buffer.concat([w.finish(), f64, tail.finish(), f32, group.finish(), m.encode((x, v: number) => x.int64(4, v), 7)]);
    expect(m.decode(m.decodeRangeResponse, b)).toMatchObject({ header: { revision: 42 }, count: 7 });
  });
});

describe('etcd codec: int64 edges', () => {
  it('a revision beyond 2^53 is a decode error, not a rounded number; a lease id beyond it is exact', () => {
    const big = m.encode((w, v: bigint) => {
      w.tag(3, 0);
      w.varint64(v);
    }, 2n ** 60n);
    expect(() => m.decode(m.decodeKeyValue, big)).toThrow(ProtoDecodeError);
    const lease = m.encode((w, v: string) => w.int64s(6, v), '9223372036854775807');
    expect(m.decode(m.decodeKeyValue, lease).lease).toBe('9223372036854775807');
    const neg = m.encode((w, v: string) => w.int64s(6, v), '-2');
    expect(neg.length).toBe(11); // tag + ten bytes, as protobuf encodes a negative int64
    expect(m.decode(m.decodeKeyValue, neg).lease).toBe('-2');
  });

  it('long embedded messages get multi-byte lengths', () => {
    const value = Buffer.alloc(70_000, 1);
    const o = toObj(
      'etcdserverpb.TxnRequest',
      m.encode(m.encodeTxn, { compare: [], success: [{ request_put: { key: Buffer.from('k'), value } }], failure: [] }),
    );
    expect(((o.success as { request_put: { value: Buffer } }[])[0]!.request_put.value as Buffer).length).toBe(70_000);
  });
});

describe('etcd codec: fuzz', () => {
  const decoders = [
    m.decodeRangeResponse,
    m.decodePutResponse,
    m.decodeDeleteRangeResponse,
    m.decodeTxnResponse,
    m.decodeWatchResponse,
    m.decodeLeaseGrantResponse,
    m.decodeLeaseKeepAliveResponse,
    m.decodeStatusResponse,
    m.decodeAuthenticateResponse,
  ];
  it('random bytes give a decoded message or a ProtoDecodeError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: decoders.length - 1 }), (a, i) => {
        try {
          decoders[i]!(new ProtoReader(Buffer.from(a)));
        } catch (err) {
          expect(err).toBeInstanceOf(ProtoDecodeError);
        }
      }),
      { numRuns: 20_000 },
    );
  });

  it('truncations and bit flips of real responses likewise', () => {
    fc.assert(
      fc.property(header, fc.array(kv, { minLength: 1, maxLength: 3 }), fc.nat(), fc.nat(), (h, kvs, cut, flip) => {
        const b = pbEncode('etcdserverpb.RangeResponse', { header: h, kvs });
        const c = Buffer.from(b.subarray(0, cut % (b.length + 1)));
        if (c.length) c[flip % c.length]! ^= 1 << (flip % 8);
        try {
          m.decodeRangeResponse(new ProtoReader(c));
        } catch (err) {
          expect(err).toBeInstanceOf(ProtoDecodeError);
        }
      }),
      { numRuns: 5_000 },
    );
  });
});
