import type { ChildProcess } from 'node:child_process';
import type { Sandbox } from '../../src/sandbox/index.js';

/**
 * Until a socket listens on `proto` `port` in `vm` (ss in the VM's namespace), within `ms`. A server started in the
 * background binds a little after it starts: a TCP connection before that is refused and a UDP datagram answered
 * with an ICMP error, which a fixed wait does not rule out on a loaded machine.
 */
export async function untilListening(sb: Sandbox, vm: string, proto: 'tcp' | 'udp', port: number, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  const flag = proto === 'tcp' ? '-Hltn' : '-Hlun';
  while ((await sb.exec(vm, ['ss', flag, `sport = :${port}`])).stdout.trim() === '') {
    if (Date.now() > deadline) throw new Error(`nothing listens on ${vm} ${proto}/${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Until `p`, a capture started in the background (spawned with piped stdout and stderr), prints `marker` on `stream`:
 * the moment it says it listens. Fails if it exits first or has not within `ms`, with what it printed on stderr.
 */
export async function untilPrinted(p: ChildProcess, stream: 'stdout' | 'stderr', marker: string, ms: number, what: string): Promise<void> {
  let seen = '';
  let err = '';
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve, reject) => {
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    p[stream]!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(marker)) resolve();
    });
    p.once('exit', (code) => reject(new Error(`${what} exited (${code}) before listening: ${err.trim()}`)));
    timer = setTimeout(() => reject(new Error(`${what} not listening after ${ms} ms: ${err.trim()}`)), ms);
  }).finally(() => clearTimeout(timer));
}
