/**
 * What etcd says about its own load, read from the Prometheus /metrics endpoint on a member's client URL: CPU,
 * resident memory, database size, watchers and watch streams, bytes sent to clients, and its revision.
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

/** Sum of every series of a metric (labels summed away); NaN when etcd does not export it. */
export function metricSum(text: string, name: string): number {
  let sum = NaN;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isNaN(v)) sum = (Number.isNaN(sum) ? 0 : sum) + v;
  }
  return sum;
}

/** One sample of a member (clientUrl: http://127.0.0.1:P). */
export async function sampleEtcd(clientUrl: string): Promise<EtcdSample> {
  const t = await get(`${clientUrl}/metrics`);
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
