/**
 * What etcd says about its own load, read from the Prometheus /metrics endpoint on a member's client URL: CPU,
 * resident memory, database size, watchers and watch streams, bytes sent to clients, its revision, and how slow its
 * disk was (WAL fsyncs and backend commits over 128 and 512 ms, slow applies): on a shared disk, a slow fsync holds
 * every write behind it, which a convergence tail then shows.
 */
import { request } from 'node:http';

export interface EtcdSample {
  at: number;
  cpuSeconds: number;
  rssBytes: number;
  dbBytes: number;
  dbInUseBytes: number;
  watchers: number;
  watchStreams: number;
  /** gRPC bytes sent to clients (watch events, replies). */
  sentBytes: number;
  receivedBytes: number;
  /** Events etcd delivered to watchers (counted per watcher). */
  watchEventsSent: number;
  /** Watch events etcd had to delay (slow watchers, pending queue). */
  slowWatchers: number;
  revision: number;
  /** WAL fsyncs, and those that took over 128 ms and over 512 ms (from etcd's histogram's buckets). */
  walFsyncs: number;
  walFsyncsOver128ms: number;
  walFsyncsOver512ms: number;
  /** Backend (bbolt) commits, likewise. */
  backendCommits: number;
  backendCommitsOver128ms: number;
  backendCommitsOver512ms: number;
  /** Requests etcd took over 100 ms to apply (its own "apply request took too long"). */
  slowApplies: number;
  /**
   * Raft snapshots saved (every 100,000 revisions by default: the bring-up of 1,000 chassis writes about that many):
   * one costs etcd CPU and disk for a moment, which an idle or churn window that holds one shows.
   */
  snapshots: number;
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`timeout reading ${url}`)));
    req.end();
  });
}

/** The sample lines of a /metrics text (comments left out), split once for every metric read from it. */
export function metricLines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && l[0] !== '#');
}

/** Sum of every series of a metric (labels summed away); NaN when etcd does not export it. */
export function metricSum(lines: readonly string[], name: string): number {
  let sum = NaN;
  for (const line of lines) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isNaN(v)) sum = (Number.isNaN(sum) ? 0 : sum) + v;
  }
  return sum;
}

/** How many observations of a histogram were above `le` seconds (one of its bucket bounds); NaN when not exported. */
export function histogramOver(lines: readonly string[], name: string, le: string): number {
  const count = metricSum(lines, `${name}_count`);
  let within = NaN;
  for (const line of lines) {
    if (line.startsWith(`${name}_bucket{`) && line.includes(`le="${le}"`))
      within = (Number.isNaN(within) ? 0 : within) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return count - within;
}

const WAL_FSYNC = 'etcd_disk_wal_fsync_duration_seconds';
const COMMIT = 'etcd_disk_backend_commit_duration_seconds';

/** One sample of a member (clientUrl: http://127.0.0.1:P). */
export async function sampleEtcd(clientUrl: string): Promise<EtcdSample> {
  const t = metricLines(await get(`${clientUrl}/metrics`));
  const m = (n: string) => metricSum(t, n);
  const sent = m('etcd_network_client_grpc_sent_bytes_total');
  return {
    at: Date.now(),
    cpuSeconds: m('process_cpu_seconds_total'),
    rssBytes: m('process_resident_memory_bytes'),
    dbBytes: m('etcd_mvcc_db_total_size_in_bytes'),
    dbInUseBytes: m('etcd_mvcc_db_total_size_in_use_in_bytes'),
    watchers: m('etcd_debugging_mvcc_watcher_total'),
    watchStreams: m('etcd_debugging_mvcc_watch_stream_total'),
    sentBytes: sent,
    receivedBytes: m('etcd_network_client_grpc_received_bytes_total'),
    watchEventsSent: m('etcd_debugging_mvcc_events_total'),
    slowWatchers: m('etcd_debugging_mvcc_slow_watcher_total'),
    revision: m('etcd_debugging_mvcc_current_revision'),
    walFsyncs: m(`${WAL_FSYNC}_count`),
    walFsyncsOver128ms: histogramOver(t, WAL_FSYNC, '0.128'),
    walFsyncsOver512ms: histogramOver(t, WAL_FSYNC, '0.512'),
    backendCommits: m(`${COMMIT}_count`),
    backendCommitsOver128ms: histogramOver(t, COMMIT, '0.128'),
    backendCommitsOver512ms: histogramOver(t, COMMIT, '0.512'),
    slowApplies: m('etcd_server_slow_apply_total'),
    snapshots: m('etcd_snap_fsync_duration_seconds_count'),
  };
}

/** etcd's disk counters (cumulative): what a window's difference of two samples says about its disk. */
export type DiskCounters = Pick<
  EtcdSample,
  | 'walFsyncs'
  | 'walFsyncsOver128ms'
  | 'walFsyncsOver512ms'
  | 'backendCommits'
  | 'backendCommitsOver128ms'
  | 'backendCommitsOver512ms'
  | 'slowApplies'
  | 'snapshots'
>;

const DISK_FIELDS: readonly (keyof DiskCounters)[] = [
  'walFsyncs',
  'walFsyncsOver128ms',
  'walFsyncsOver512ms',
  'backendCommits',
  'backendCommitsOver128ms',
  'backendCommitsOver512ms',
  'slowApplies',
  'snapshots',
];

/** What etcd's disk did between two samples. */
export function diskBetween(a: EtcdSample, b: EtcdSample): DiskCounters {
  return Object.fromEntries(DISK_FIELDS.map((k) => [k, b[k] - a[k]])) as DiskCounters;
}

/** One sampling window that held a slow fsync, commit or apply; `atMs`: its end, ms after the watch began. */
export type SlowDisk = { atMs: number } & DiskCounters;

/**
 * Samples etcd every `everyMs` from `first` on and keeps the windows in which its disk was slow (an fsync or commit
 * over 128 ms, an apply over 100 ms): set beside the operations that were slow then, they tell a stall's cause.
 */
export function watchSlowDisk(
  sample: () => Promise<EtcdSample | undefined>,
  first: EtcdSample,
  everyMs = 500,
): { stop(): Promise<SlowDisk[]> } {
  const slow: SlowDisk[] = [];
  let running = true;
  const loop = (async () => {
    let prev = first;
    while (running) {
      await new Promise((r) => setTimeout(r, everyMs));
      const s = await sample().catch(() => undefined);
      if (!s) continue;
      const d = diskBetween(prev, s);
      if (d.walFsyncsOver128ms || d.backendCommitsOver128ms || d.slowApplies) slow.push({ atMs: s.at - first.at, ...d });
      prev = s;
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return slow;
    },
  };
}

/** Sums members' samples (a 3-member cluster's load is the sum; revision is the same on all). */
export function sumSamples(s: EtcdSample[]): EtcdSample {
  const out = { ...s[0]! };
  for (const x of s.slice(1)) for (const k of Object.keys(out) as (keyof EtcdSample)[]) if (k !== 'at' && k !== 'revision') out[k] += x[k];
  return out;
}

export async function sampleAll(clientUrls: string[]): Promise<EtcdSample> {
  return sumSamples(await Promise.all(clientUrls.map((u) => sampleEtcd(u))));
}
