/** Shared checks for the sandbox integration tests: prerequisites (fail loudly) and "nothing left" probes. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export function requireSandboxPrereqs(): void {
  if (process.getuid?.() !== 0) throw new Error('sandbox tests need root (network namespaces, OVS daemons)');
  for (const bin of ['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl', 'ip', 'ethtool', 'ping']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`sandbox tests need ${bin} on PATH (apt-get install openvswitch-switch iproute2 ethtool iputils-ping)`);
    }
  }
}

/** Namespaces, root-namespace links and processes that still carry the prefix / run dir. */
export function leftovers(prefix: string, runDir: string): { netns: string[]; links: string[]; procs: string[] } {
  let netns: string[] = [];
  try {
    netns = readdirSync('/run/netns').filter((n) => n.startsWith(`${prefix}-`));
  } catch {
    /* no namespaces at all */
  }
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n.startsWith(prefix));
  const procs: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(runDir) && Number(pid) !== process.pid) procs.push(`${pid}: ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return { netns, links, procs };
}
