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
