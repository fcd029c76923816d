import { describe, expect, it } from 'vitest';
import { histogramOver, metricSum } from '../../src/sim/etcd-metrics.js';

// As etcd 3.4 exports it (buckets cumulative, powers of two from 1 ms).
const TEXT = `# HELP etcd_disk_wal_fsync_duration_seconds The latency distributions of fsync called by WAL.
# TYPE etcd_disk_wal_fsync_duration_seconds histogram
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.064"} 90
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.128"} 95
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.256"} 97
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.512"} 98
etcd_disk_wal_fsync_duration_seconds_bucket{le="1.024"} 100
etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 100
etcd_disk_wal_fsync_duration_seconds_sum 3.5
etcd_disk_wal_fsync_duration_seconds_count 100
etcd_server_slow_apply_total 4
`;

describe('etcd metrics', () => {
  it('counts a histogram’s observations above a bucket bound', () => {
    expect(histogramOver(TEXT, 'etcd_disk_wal_fsync_duration_seconds', '0.128')).toBe(5);
    expect(histogramOver(TEXT, 'etcd_disk_wal_fsync_duration_seconds', '0.512')).toBe(2);
    expect(metricSum(TEXT, 'etcd_server_slow_apply_total')).toBe(4);
  });

  it('says NaN for a histogram or bound etcd does not export', () => {
    expect(histogramOver(TEXT, 'etcd_disk_backend_commit_duration_seconds', '0.128')).toBeNaN();
    expect(histogramOver(TEXT, 'etcd_disk_wal_fsync_duration_seconds', '0.3')).toBeNaN();
  });
});
