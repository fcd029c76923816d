/** tcpdump for tests: what a namespace's interface saw while something ran. */
import { spawn } from 'node:child_process';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `tcpdump -nn -e -l -i IFACE FILTER…` in `netns` while `fn` runs (starting it once tcpdump says it is
 * listening, or after 2 s), then a little longer for the last packets; returns the lines it printed.
 */
export async function capture(netns: string, iface: string, filter: string[], fn: () => Promise<void>): Promise<string[]> {
  const p = spawn('ip', ['netns', 'exec', netns, 'tcpdump', '-nn', '-e', '-l', '-i', iface, ...filter], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve) => {
    p.stderr.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
    setTimeout(resolve, 2_000);
  });
  try {
    await fn();
    await sleep(300);
  } finally {
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
  }
  return out.split('\n').filter((l) => l.trim() !== '');
}
