/** Waiting for a sandbox host's interfaces to carry an agent's mark (wyvern-installed, ovn-installed). */
import type { SandboxHost } from '../../src/sandbox/index.js';
import { run } from '../../src/sandbox/run.js';
import { sleep } from './stats.js';

/** Polls until `n` Interfaces of the host carry external_ids:<mark>=true. */
export async function waitMarked(host: SandboxHost, mark: string, n: number, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = await run([
      'ovs-vsctl',
      `--db=unix:${host.ovs.dbSock}`,
      '--bare',
      '--columns=name',
      'find',
      'Interface',
      `external_ids:${mark}=true`,
    ]);
    const have = out.split('\n').filter(Boolean).length;
    if (have >= n) return;
    if (Date.now() > deadline) throw new Error(`${host.name}: only ${have}/${n} interfaces ${mark} after ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}
