/** tcpdump for tests: what a namespace's interface saw while something ran. */
import { spawn } from 'node:child_process';
import { untilPrinted } from './listening.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long tcpdump may take to say it is listening (it loads its filter first; slow on a loaded machine). */
const LISTEN_MS = 10_000;

/**
 * Runs `tcpdump -nn -e -l --immediate-mode -i IFACE FILTER…` in `netns` while `fn` runs (starting it once tcpdump
 * says it is listening: it fails if tcpdump does not within LISTEN_MS), then a little longer for the last packets;
 * returns the lines it printed, all of them (read until its output closes). Immediate mode: each packet is printed
 * as it comes, not in the capture buffer's blocks.
 */
export async function capture(netns: string, iface: string, filter: string[], fn: () => Promise<void>): Promise<string[]> {
  const p = spawn('ip', ['netns', 'exec', netns, 'tcpdump', '-nn', '-e', '-l', '--immediate-mode', '-i', iface, ...filter], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const closed = new Promise((r) => p.once('close', r));
  try {
    await untilPrinted(p, 'stderr', 'listening', LISTEN_MS, `tcpdump in ${netns}`);
    await fn();
    await sleep(300);
  } finally {
    p.kill('SIGTERM');
    await closed;
  }
  return out.split('\n').filter((l) => l.trim() !== '');
}
