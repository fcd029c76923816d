/**
 * A DHCP client run inside a VM (busybox udhcpc) whose event script applies the lease (address, default
 * route, MTU) and reports it on stdout, so tests can check what a DHCP server handed out.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { netnsExec } from './netns.js';

export interface DhcpLease {
  ip: string;
  /** Prefix length. */
  mask: number;
  router?: string;
  serverId?: string;
  leaseSeconds?: number;
  mtu?: number;
  dns?: string[];
  /** Wall time from starting the client to the lease applied. */
  ms: number;
}

const MARK = 'WYVERN-LEASE';

// udhcpc hands the lease to the script in the environment: ip, mask (bits), router, serverid, lease, mtu, dns.
const SCRIPT = `#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$mtu" ]; then ip link set "$interface" mtu "$mtu"; fi
    if [ -n "$router" ]; then ip route replace default via "\${router%% *}" dev "$interface"; fi
    echo "${MARK} ip=$ip mask=$mask router=\${router%% *} serverid=$serverid lease=$lease mtu=$mtu dns=$dns" ;;
esac
exit 0
`;

export async function writeDhcpScript(runDir: string): Promise<string> {
  const path = join(runDir, 'udhcpc.sh');
  await writeFile(path, SCRIPT);
  await chmod(path, 0o755);
  return path;
}

/** Runs one DHCP exchange on eth0 of the namespace; rejects if no lease comes within about `timeoutS`. */
export async function dhcpLease(netns: string, script: string, timeoutS = 10): Promise<DhcpLease> {
  const tries = Math.max(1, Math.ceil(timeoutS));
  const t0 = performance.now();
  // -T 1: one DISCOVER per second instead of every 3 s; -n: give up after `tries`; -q: exit once bound;
  // -O mtu: servers that send only requested options (dnsmasq) then include the MTU.
  const r = await netnsExec(
    netns,
    ['busybox', 'udhcpc', '-f', '-n', '-q', '-t', String(tries), '-T', '1', '-O', 'mtu', '-i', 'eth0', '-s', script],
    (tries + 5) * 1000,
  );
  // Rounded to 0.1 ms: more digits are noise (and printed as 94.46123699999998 ms).
  const ms = Math.round((performance.now() - t0) * 10) / 10;
  const line = r.stdout.split('\n').find((l) => l.startsWith(MARK));
  if (r.code !== 0 || !line) throw new Error(`no DHCP lease in ${netns} (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  const kv = Object.fromEntries(
    line
      .slice(MARK.length + 1)
      .split(' ')
      .map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]),
  );
  const num = (v: string | undefined) => (v ? Number(v) : undefined);
  return {
    ip: kv.ip!,
    mask: Number(kv.mask),
    router: kv.router || undefined,
    serverId: kv.serverid || undefined,
    leaseSeconds: num(kv.lease),
    mtu: num(kv.mtu),
    dns: kv.dns ? kv.dns.split(',') : undefined,
    ms,
  };
}
