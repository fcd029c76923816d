import { describe, expect, it } from 'vitest';
import { diskBetween, histogramOver, metricLines, metricSum, type EtcdSample } from '../../src/sim/etcd-metrics.js';

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
const LINES = metricLines(TEXT);

describe('etcd metrics', () => {
  it('counts a histogram’s observations above a bucket bound', () => {
    expect(histogramOver(LINES, 'etcd_disk_wal_fsync_duration_seconds', '0.128')).toBe(5);
    expect(histogramOver(LINES, 'etcd_disk_wal_fsync_duration_seconds', '0.512')).toBe(2);
    expect(metricSum(LINES, 'etcd_server_slow_apply_total')).toBe(4);
  });

  it('says NaN for a histogram or bound etcd does not export', () => {
    expect(histogramOver(LINES, 'etcd_disk_backend_commit_duration_seconds', '0.128')).toBeNaN();
    expect(histogramOver(LINES, 'etcd_disk_wal_fsync_duration_seconds', '0.3')).toBeNaN();
  });

  it('a window’s disk counters are the difference of two samples', () => {
    const at = (n: number) =>
      ({
        walFsyncs: 10 * n,
        walFsyncsOver128ms: n,
        walFsyncsOver512ms: 0,
        backendCommits: 5 * n,
        backendCommitsOver128ms: 0,
        backendCommitsOver512ms: 0,
        slowApplies: n,
        snapshots: 0,
      }) as unknown as EtcdSample;
    expect(diskBetween(at(1), at(3))).toEqual({
      walFsyncs: 20,
      walFsyncsOver128ms: 2,
      walFsyncsOver512ms: 0,
      backendCommits: 10,
      backendCommitsOver128ms: 0,
      backendCommitsOver512ms: 0,
      slowApplies: 2,
      snapshots: 0,
    });
  });
});
