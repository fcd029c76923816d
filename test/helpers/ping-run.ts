/** Continuous pings from a sandbox VM for outage measurements: reply timestamps, losses, the longest gap. */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Cluster } from './cluster.js';

export interface PingRun {
  proc: ChildProcess;
  /** Reply times (ms since the epoch, from ping -D). */
  replies: number[];
  /** Sequence numbers answered. */
  seqs: number[];
  /** Stops ping (SIGINT) and returns the number of requests it sent. */
  stop: () => Promise<number>;
}

/** `ping -D -i INTERVAL` from a VM to `ip`. */
export function pingRun(c: Cluster, vm: string, ip: string, intervalS = 0.05): PingRun {
  return pingFromNetns(c.sb.vm(vm).netns, ip, intervalS);
}

/** `ping -D -i INTERVAL` from a network namespace to `ip` (benches that run a Sandbox without a Cluster). */
export function pingFromNetns(netns: string, ip: string, intervalS = 0.05): PingRun {
  const proc = spawn('ip', ['netns', 'exec', netns, 'ping', '-D', '-n', '-i', String(intervalS), '-W', '1', ip], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const replies: number[] = [];
  const seqs: number[] = [];
  let sent = 0;
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      const m = /^\[(\d+\.\d+)\].*bytes from.*icmp_seq=(\d+)/.exec(l);
      if (m) {
        replies.push(Number(m[1]) * 1000);
        seqs.push(Number(m[2]));
      }
      const s = /(\d+) packets transmitted/.exec(l);
      if (s) sent = Number(s[1]);
    }
  });
  return {
    proc,
    replies,
    seqs,
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGINT');
        await new Promise((r) => proc.once('exit', r));
      }
      const s = /(\d+) packets transmitted/.exec(buf);
      if (s) sent = Number(s[1]);
      return sent;
    },
  };
}

/**
 * Requests never answered between the first and the last answered one (the one in flight when ping is stopped is
 * not a loss).
 */
export function lost(run: PingRun): number {
  if (run.seqs.length === 0) return Number.POSITIVE_INFINITY;
  const uniq = new Set(run.seqs);
  return Math.max(...run.seqs) - Math.min(...run.seqs) + 1 - uniq.size;
}

/** The longest gap between consecutive replies (ms) within [from - 1 s, to]. */
export function outage(replies: number[], from: number, to: number): number {
  const r = replies.filter((t) => t >= from - 1000 && t <= to);
  let worst = 0;
  for (let i = 1; i < r.length; i++) worst = Math.max(worst, r[i]! - r[i - 1]!);
  return worst;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}
