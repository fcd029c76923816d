/**
 * The etcd v3 messages wyvern uses (etcdserverpb and mvccpb, etcd's rpc.proto and kv.proto), field numbers
 * from those files. Field names are the .proto's own, so a message here reads like etcd's documentation.
 *
 * Requests are encoded exactly as proto3 does (default values omitted); responses are decoded liberally: an
 * unknown field, or a known one of an unexpected wire type, is skipped, and anything malformed is a
 * ProtoDecodeError. Lease ids are decimal strings (they exceed 2^53); revisions, counts and TTLs are numbers.
 */
import { ProtoReader, ProtoWriter, WireType, type Bytes } from './proto.js';

const V = WireType.Varint;
const B = WireType.Bytes;
const EMPTY = Buffer.alloc(0);

// ---- shared ----

export interface ResponseHeader {
  cluster_id: string;
  member_id: string;
  revision: number;
  raft_term: number;
}

export interface KeyValue {
  key: Buffer;
  create_revision: number;
  mod_revision: number;
  version: number;
  value: Buffer;
  /** Lease id, '0' for none. */
  lease: string;
}

function header(r: ProtoReader): ResponseHeader {
  const h: ResponseHeader = { cluster_id: '0', member_id: '0', revision: 0, raft_term: 0 };
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === V) {
      if (f === 1) h.cluster_id = r.uint64s();
      else if (f === 2) h.member_id = r.uint64s();
      else if (f === 3) h.revision = r.int64();
      else if (f === 4) h.raft_term = r.int64();
      else r.skip(wt, f);
    } else r.skip(wt, f);
  }
  return h;
}

const emptyHeader = (): ResponseHeader => ({ cluster_id: '0', member_id: '0', revision: 0, raft_term: 0 });

export function decodeKeyValue(r: ProtoReader): KeyValue {
  const kv: KeyValue = { key: EMPTY, create_revision: 0, mod_revision: 0, version: 0, value: EMPTY, lease: '0' };
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === B && f === 1) kv.key = r.bytes();
    else if (wt === B && f === 5) kv.value = r.bytes();
    else if (wt === V && f === 2) kv.create_revision = r.int64();
    else if (wt === V && f === 3) kv.mod_revision = r.int64();
    else if (wt === V && f === 4) kv.version = r.int64();
    else if (wt === V && f === 6) kv.lease = r.int64s();
    else r.skip(wt, f);
  }
  return kv;
}

/** Decodes a message whose only field we read is the header (field 1), e.g. PutResponse without prev_kv. */
function headerOnly(r: ProtoReader): { header: ResponseHeader } {
  let h = emptyHeader();
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === B && f === 1) h = header(r.sub());
    else r.skip(wt, f);
  }
  return { header: h };
}

// ---- KV ----

export interface RangeRequest {
  key: Buffer;
  range_end?: Buffer;
  limit?: number;
  revision?: number;
  serializable?: boolean;
  keys_only?: boolean;
  count_only?: boolean;
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export interface PutRequest {
  key: Bytes;
  value: Bytes;
  lease?: string;
  prev_kv?: boolean;
}

export interface PutResponse {
  header: ResponseHeader;
  prev_kv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Bytes;
  range_end?: Bytes;
  prev_kv?: boolean;
}

export interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: number;
  prev_kvs: KeyValue[];
}

export type RequestOp =
  | { request_range: RangeRequest }
  | { request_put: PutRequest }
  | { request_delete_range: DeleteRangeRequest }
  | { request_txn: TxnRequest };

export interface ResponseOp {
  response_range?: RangeResponse;
  response_put?: PutResponse;
  response_delete_range?: DeleteRangeResponse;
  response_txn?: TxnResponse;
}

export const CompareResult = { Equal: 0, Greater: 1, Less: 2, NotEqual: 3 } as const;
export const CompareTarget = { Version: 0, Create: 1, Mod: 2, Value: 3, Lease: 4 } as const;

export interface Compare {
  result: number;
  target: number;
  key: Bytes;
  version?: number;
  create_revision?: number;
  mod_revision?: number;
  value?: Bytes;
  lease?: string;
  range_end?: Buffer;
}

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionRequest {
  revision: number;
  physical?: boolean;
}

export function encodeRange(w: ProtoWriter, m: RangeRequest): void {
  w.bytes(1, m.key);
  w.bytes(2, m.range_end);
  w.int64(3, m.limit);
  w.int64(4, m.revision);
  w.bool(7, m.serializable);
  w.bool(8, m.keys_only);
  w.bool(9, m.count_only);
}

export function encodePut(w: ProtoWriter, m: PutRequest): void {
  w.bytes(1, m.key);
  w.bytes(2, m.value);
  w.int64s(3, m.lease);
  w.bool(4, m.prev_kv);
}

export function encodeDeleteRange(w: ProtoWriter, m: DeleteRangeRequest): void {
  w.bytes(1, m.key);
  w.bytes(2, m.range_end);
  w.bool(3, m.prev_kv);
}

function encodeCompare(w: ProtoWriter, c: Compare): void {
  w.enumv(1, c.result);
  w.enumv(2, c.target);
  w.bytes(3, c.key);
  // The target_union oneof: the member that is set is written even when it is zero (mod_revision 0 = "absent").
  if (c.version !== undefined) forceInt(w, 4, c.version);
  else if (c.create_revision !== undefined) forceInt(w, 5, c.create_revision);
  else if (c.mod_revision !== undefined) forceInt(w, 6, c.mod_revision);
  else if (c.value !== undefined) w.bytes(7, c.value, true);
  else if (c.lease !== undefined) {
    w.tag(8, V);
    w.varint64(BigInt(c.lease));
  }
  w.bytes(64, c.range_end);
}

function forceInt(w: ProtoWriter, field: number, v: number): void {
  w.tag(field, V);
  if (v >= 0) w.varint(v);
  else w.varint64(BigInt(v));
}

function encodeOp(w: ProtoWriter, op: RequestOp): void {
  if ('request_range' in op) w.message(1, (x) => encodeRange(x, op.request_range));
  else if ('request_put' in op) w.message(2, (x) => encodePut(x, op.request_put));
  else if ('request_delete_range' in op) w.message(3, (x) => encodeDeleteRange(x, op.request_delete_range));
  else w.message(4, (x) => encodeTxn(x, op.request_txn));
}

export function encodeTxn(w: ProtoWriter, m: TxnRequest): void {
  for (const c of m.compare) w.message(1, (x) => encodeCompare(x, c));
  for (const op of m.success) w.message(2, (x) => encodeOp(x, op));
  for (const op of m.failure) w.message(3, (x) => encodeOp(x, op));
}

export function encodeCompaction(w: ProtoWriter, m: CompactionRequest): void {
  w.int64(1, m.revision);
  w.bool(2, m.physical);
}

export function decodeRangeResponse(r: ProtoReader): RangeResponse {
  const m: RangeResponse = { header: emptyHeader(), kvs: [], more: false, count: 0 };
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === B && f === 1) m.header = header(r.sub());
    else if (wt === B && f === 2) m.kvs.push(decodeKeyValue(r.sub()));
    else if (wt === V && f === 3) m.more = r.bool();
    else if (wt === V && f === 4) m.count = r.int64();
    else r.skip(wt, f);
  }
  return m;
}

export function decodePutResponse(r: ProtoReader): PutResponse {
  const m: PutResponse = { header: emptyHeader() };
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === B && f === 1) m.header = header(r.sub());
    else if (wt === B && f === 2) m.prev_kv = decodeKeyValue(r.sub());
    else r.skip(wt, f);
  }
  return m;
}

export function decodeDeleteRangeResponse(r: ProtoReader): DeleteRangeResponse {
  const m: DeleteRangeResponse = { header: emptyHeader(), deleted: 0, prev_kvs: [] };
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === B && f === 1) m.header = header(r.sub());
    else if (wt === V && f === 2) m.deleted = r.int64();
    else if (wt === B && f === 3) m.prev_kvs.push(decodeKeyValue(r.sub()));
    else r.skip(wt, f);
  }
  return m;
}

function decodeResponseOp(r: ProtoReader): ResponseOp {
  const m: ResponseOp = {};
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === B && f === 1) m.response_range = decodeRangeResponse(r.sub());
    else if (wt === B && f === 2) m.response_put = decodePutResponse(r.sub());
    else if (wt === B && f === 3) m.response_delete_range = decodeDeleteRangeResponse(r.sub());
    else if (wt === B && f === 4) m.response_txn = decodeTxnResponse(r.sub());
    else r.skip(wt, f);
  }
  return m;
}

export function decodeTxnResponse(r: ProtoReader): TxnResponse {
  const m: TxnResponse = { header: emptyHeader(), succeeded: false, responses: [] };
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === B && f === 1) m.header = header(r.sub());
    else if (wt === V && f === 2) m.succeeded = r.bool();
    else if (wt === B && f === 3) m.responses.push(decodeResponseOp(r.sub()));
    else r.skip(wt, f);
  }
  return m;
}

export const decodeCompactionResponse = headerOnly;

// ---- Watch ----

export interface WatchCreateRequest {
  key: Buffer;
  range_end?: Buffer;
  start_revision?: number;
  progress_notify?: boolean;
  /** 0 = NOPUT, 1 = NODELETE. */
  filters?: number[];
  prev_kv?: boolean;
  watch_id?: number;
  fragment?: boolean;
}

export type WatchRequest =
  { create_request: WatchCreateRequest } | { cancel_request: { watch_id: number } } | { progress_request: Record<string, never> };

export interface Event {
  /** 0 = PUT, 1 = DELETE. */
  type: number;
  kv: KeyValue;
  prev_kv?: KeyValue;
}

export interface WatchResponse {
  header: ResponseHeader;
  watch_id: number;
  created: boolean;
  canceled: boolean;
  compact_revision: number;
  cancel_reason: string;
  fragment: boolean;
  events: Event[];
}

export function encodeWatchRequest(w: ProtoWriter, m: WatchRequest): void {
  if ('create_request' in m) {
    const c = m.create_request;
    w.message(1, (x) => {
      x.bytes(1, c.key);
      x.bytes(2, c.range_end);
      x.int64(3, c.start_revision);
      x.bool(4, c.progress_notify);
      if (c.filters?.length) x.message(5, (p) => c.filters!.forEach((v) => p.varint(v))); // packed, as proto3
      x.bool(6, c.prev_kv);
      x.int64(7, c.watch_id);
      x.bool(8, c.fragment);
    });
  } else if ('cancel_request' in m) {
    w.message(2, (x) => x.int64(1, m.cancel_request.watch_id));
  } else w.message(3, () => undefined);
}

function decodeEvent(r: ProtoReader): Event {
  const ev: Event = { type: 0, kv: decodeKeyValue(new ProtoReader(EMPTY)) };
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === V && f === 1) ev.type = r.varint();
    else if (wt === B && f === 2) ev.kv = decodeKeyValue(r.sub());
    else if (wt === B && f === 3) ev.prev_kv = decodeKeyValue(r.sub());
    else r.skip(wt, f);
  }
  return ev;
}

export function decodeWatchResponse(r: ProtoReader): WatchResponse {
  const m: WatchResponse = {
    header: emptyHeader(),
    watch_id: 0,
    created: false,
    canceled: false,
    compact_revision: 0,
    cancel_reason: '',
    fragment: false,
    events: [],
  };
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === B && f === 1) m.header = header(r.sub());
    else if (wt === V && f === 2) m.watch_id = r.int64();
    else if (wt === V && f === 3) m.created = r.bool();
    else if (wt === V && f === 4) m.canceled = r.bool();
    else if (wt === V && f === 5) m.compact_revision = r.int64();
    else if (wt === B && f === 6) m.cancel_reason = r.string();
    else if (wt === V && f === 7) m.fragment = r.bool();
    else if (wt === B && f === 11) m.events.push(decodeEvent(r.sub()));
    else r.skip(wt, f);
  }
  return m;
}

// ---- Lease ----

export interface LeaseGrantResponse {
  header: ResponseHeader;
  ID: string;
  TTL: number;
  error: string;
}

export interface LeaseKeepAliveResponse {
  header: ResponseHeader;
  ID: string;
  TTL: number;
}

export function encodeLeaseGrant(w: ProtoWriter, m: { TTL: number; ID?: string }): void {
  w.int64(1, m.TTL);
  w.int64s(2, m.ID);
}

/** LeaseRevokeRequest, LeaseKeepAliveRequest: the id alone in field 1. */
export function encodeLeaseId(w: ProtoWriter, m: { ID: string }): void {
  w.int64s(1, m.ID);
}

export function decodeLeaseGrantResponse(r: ProtoReader): LeaseGrantResponse {
  const m: LeaseGrantResponse = { header: emptyHeader(), ID: '0', TTL: 0, error: '' };
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === B && f === 1) m.header = header(r.sub());
    else if (wt === V && f === 2) m.ID = r.int64s();
    else if (wt === V && f === 3) m.TTL = r.int64();
    else if (wt === B && f === 4) m.error = r.string();
    else r.skip(wt, f);
  }
  return m;
}

export function decodeLeaseKeepAliveResponse(r: ProtoReader): LeaseKeepAliveResponse {
  const m: LeaseKeepAliveResponse = { header: emptyHeader(), ID: '0', TTL: 0 };
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === B && f === 1) m.header = header(r.sub());
    else if (wt === V && f === 2) m.ID = r.int64s();
    else if (wt === V && f === 3) m.TTL = r.int64();
    else r.skip(wt, f);
  }
  return m;
}

export const decodeLeaseRevokeResponse = headerOnly;

// ---- Maintenance, Auth ----

export interface StatusResponse {
  header: ResponseHeader;
  version: string;
}

export function decodeStatusResponse(r: ProtoReader): StatusResponse {
  const m: StatusResponse = { header: emptyHeader(), version: '' };
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === B && f === 1) m.header = header(r.sub());
    else if (wt === B && f === 2) m.version = r.string();
    else r.skip(wt, f);
  }
  return m;
}

export function encodeAuthenticate(w: ProtoWriter, m: { name: string; password: string }): void {
  w.string(1, m.name);
  w.string(2, m.password);
}

export function decodeAuthenticateResponse(r: ProtoReader): { header: ResponseHeader; token: string } {
  const m = { header: emptyHeader(), token: '' };
  while (!r.done) {
    const [f, wt] = r.tag();
    if (wt === B && f === 1) m.header = header(r.sub());
    else if (wt === B && f === 2) m.token = r.string();
    else r.skip(wt, f);
  }
  return m;
}

/** Encodes one message with `fn` into a fresh buffer. */
export function encode<T>(fn: (w: ProtoWriter, m: T) => void, m: T): Buffer {
  const w = new ProtoWriter();
  fn(w, m);
  return w.finish();
}

/** Decodes a whole buffer with `fn`. */
export function decode<T>(fn: (r: ProtoReader) => T, b: Buffer): T {
  return fn(new ProtoReader(b));
}
