/**
 * The etcd driver's error mapping: every way our etcd client says "no member answered" is a StoreError
 * UNAVAILABLE (the API's 503). (The real outage is proven in test/integration/api-store-outage.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { mapError } from '../../src/store/etcd.js';
import { ChannelClosedError, GrpcError, GrpcStatus } from '../../src/store/etcd-client/grpc.js';
import { StoreError } from '../../src/store/types.js';

describe('etcd mapError', () => {
  it.each([
    ['no connection', new GrpcError(GrpcStatus.UNAVAILABLE, '127.0.0.1:2379: ECONNREFUSED connect ECONNREFUSED 127.0.0.1:2379', true)],
    ['deadline exceeded', new GrpcError(GrpcStatus.DEADLINE_EXCEEDED, '127.0.0.1:2379: deadline exceeded after 5000 ms')],
    ['stream cancelled by a dropped connection', new GrpcError(GrpcStatus.CANCELLED, 'cancelled')],
    ['etcd without a leader', new GrpcError(GrpcStatus.UNKNOWN, 'etcdserver: no leader')],
    ['plain connection refused', new Error('connect ECONNREFUSED 127.0.0.1:2379')],
  ])('%s → UNAVAILABLE', (_what, err) => {
    const e = mapError(err, 'range');
    expect(e).toBeInstanceOf(StoreError);
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toMatch(/^range: etcd unreachable: /);
    expect(e.cause).toBe(err);
  });

  it('keeps what is not an outage apart: bad request INTERNAL, closed client CLOSED, auth DENIED, compaction COMPACTED, lease INVALID', () => {
    expect(mapError(new GrpcError(GrpcStatus.INVALID_ARGUMENT, 'bad'), 'txn').code).toBe('INTERNAL');
    expect(mapError(new ChannelClosedError('KV'), 'get').code).toBe('CLOSED');
    expect(mapError(new GrpcError(GrpcStatus.PERMISSION_DENIED, 'etcdserver: permission denied'), 'get').code).toBe('DENIED');
    expect(mapError(new GrpcError(GrpcStatus.UNAUTHENTICATED, 'etcdserver: invalid auth token'), 'get').code).toBe('DENIED');
    expect(mapError(new GrpcError(GrpcStatus.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'), 'watch').code).toBe(
      'COMPACTED',
    );
    expect(mapError(new GrpcError(GrpcStatus.NOT_FOUND, 'etcdserver: requested lease not found'), 'put').code).toBe('INVALID');
    expect(mapError(new GrpcError(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'), 'txn').code).toBe(
      'INVALID',
    );
    expect(mapError(new GrpcError(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'), 'txn').code).toBe(
      'INVALID',
    );
  });
});
