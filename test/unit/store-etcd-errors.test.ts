/**
 * The etcd driver's error mapping: every way the etcd3 client says "no member answered" is a
 * StoreError UNAVAILABLE (the API's 503), including its circuit breaker's own error class, which
 * is not a gRPC error. (The real outage is proven in test/integration/api-store-outage.test.ts.)
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ClientClosedError, GRPCCancelledError, GRPCDeadlineExceededError, GRPCInvalidArgumentError, GRPCUnavailableError } from 'etcd3';
import { mapError } from '../../src/store/etcd.js';
import { StoreError } from '../../src/store/types.js';

// cockatiel is etcd3's dependency: load the very class etcd3 throws, from etcd3's own resolution.
const requireFromEtcd3 = createRequire(createRequire(import.meta.url).resolve('etcd3'));
const { BrokenCircuitError } = requireFromEtcd3('cockatiel') as { BrokenCircuitError: new () => Error };

describe('etcd mapError', () => {
  it.each([
    ['circuit breaker open (BrokenCircuitError)', new BrokenCircuitError()],
    ['gRPC unavailable', new GRPCUnavailableError('14 UNAVAILABLE: No connection established')],
    ['deadline exceeded', new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded')],
    ['call cancelled by a dropped connection (recoverable)', new GRPCCancelledError('1 CANCELLED: Call cancelled')],
    ['plain connection refused', new Error('connect ECONNREFUSED 127.0.0.1:2379')],
  ])('%s → UNAVAILABLE', (_what, err) => {
    const e = mapError(err, 'range');
    expect(e).toBeInstanceOf(StoreError);
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toMatch(/^range: etcd unreachable: /);
    expect(e.cause).toBe(err);
  });

  it('keeps what is not an outage apart: bad request INTERNAL, closed client CLOSED, auth DENIED, compaction COMPACTED', () => {
    expect(mapError(new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: bad'), 'txn').code).toBe('INTERNAL');
    expect(mapError(new ClientClosedError('KV'), 'get').code).toBe('CLOSED');
    expect(mapError(new Error('etcdserver: permission denied'), 'get').code).toBe('DENIED');
    expect(mapError(new Error('etcdserver: mvcc: required revision has been compacted'), 'watch').code).toBe('COMPACTED');
  });
});
