import { describe, expect, it } from 'vitest';
import { copiesWriteBufferPerTxn, ETCD_BACKEND_BATCH_LIMIT, slowTxnWarning } from '../../src/store/etcd-server-version.js';

describe('etcd releases with slow write transactions', () => {
  it('3.4.0 up to 3.4.23 copy their write buffer per transaction; 3.4.24, 3.5 and others do not', () => {
    for (const v of ['3.4.0', '3.4.14', '3.4.23', 'v3.4.23', ' 3.4.23 ']) expect(copiesWriteBufferPerTxn(v), v).toBe(true);
    for (const v of ['3.4.24', '3.4.35', '3.5.0', '3.5.16', '3.6.1', '3.3.27', '4.4.1', '', 'unknown', '3.4']) {
      expect(copiesWriteBufferPerTxn(v), v).toBe(false);
    }
  });

  it('the warning names the release, the member, the fix and what to do', () => {
    const w = slowTxnWarning('3.4.23', 'etcd://10.0.0.5:2379');
    expect(w).toContain('etcd 3.4.23 (etcd://10.0.0.5:2379)');
    expect(w).toContain('etcd-io/etcd#12529');
    expect(w).toContain('upgrade etcd to 3.4.24 or later');
    // What an operator who cannot upgrade (Debian 12) sets, as a flag and as the packaged unit's environment.
    expect(w).toContain(`--backend-batch-limit=${ETCD_BACKEND_BATCH_LIMIT}`);
    expect(w).toContain(`ETCD_BACKEND_BATCH_LIMIT=${ETCD_BACKEND_BATCH_LIMIT} in /etc/default/etcd`);
  });
});
