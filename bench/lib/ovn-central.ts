/**
 * Real OVN on a wyvern Sandbox, for the benches' OVN sides: NB and SB ovsdb-servers and ovn-northd in the root
 * namespace on unix sockets only, one ovn-controller per sandbox host — as /work/shared/anchors/ovn/run.sh starts
 * them. Every pid is recorded with the sandbox (trackProcess), so Sandbox.down() ends them, by pid, whatever
 * happens to this process.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sandbox, SandboxHost } from '../../src/sandbox/index.js';
import { execCmd, run } from '../../src/sandbox/run.js';

/**
 * Installs OVN, iperf3 and what the OVN anchor (/work/shared/anchors/ovn/run.sh) also runs (busybox, ethtool) from
 * Debian if a tool is missing (idempotent; not part of scripts/setup: only the benches' OVN sides need them).
 */
export async function ensureOvnPackages(log: (s: string) => void): Promise<void> {
  const need = ['ovn-nbctl', 'ovn-northd', 'ovn-controller', 'iperf3', 'busybox', 'ethtool'];
  const missing: string[] = [];
  for (const c of need) if ((await execCmd(['sh', '-c', `command -v ${c}`])).code !== 0) missing.push(c);
  if (missing.length === 0) return;
  log(`installing ovn-central ovn-host iperf3 busybox ethtool (missing: ${missing.join(', ')})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const packages = ['ovn-central', 'ovn-host', 'iperf3', 'busybox', 'ethtool'];
  const install = ['apt-get', 'install', '-y', '-o', 'DPkg::Lock::Timeout=300', ...packages];
  if ((await execCmd(install, { env, timeoutMs: 600_000 })).code !== 0) {
    await run(['apt-get', 'update', '-o', 'DPkg::Lock::Timeout=300'], { env, timeoutMs: 600_000 });
    await run(install, { env, timeoutMs: 600_000 });
  }
}

export class OvnCentral {
  private sb!: Sandbox;
  private dir = '';
  private readonly pids: number[] = [];
  /** ovn-controller pid by host name. */
  readonly controllers = new Map<string, number>();

  /** Starts the central daemons and one ovn-controller per host (`hostExternalIds`: extra Open_vSwitch external_ids). */
  async start(sb: Sandbox, hostExternalIds: (h: SandboxHost) => string[] = () => []): Promise<void> {
    this.sb = sb;
    this.dir = join(sb.runDir, 'ovn-central');
    const c = this.dir;
    await mkdir(c, { recursive: true });
    const owner = sb.hosts[0]!.name; // the central's pids are recorded with the first host: down() ends them
    for (const db of ['nb', 'sb']) {
      await run(['ovsdb-tool', 'create', `${c}/${db}.db`, `/usr/share/ovn/ovn-${db}.ovsschema`]);
      await run([
        'ovsdb-server',
        `${c}/${db}.db`,
        `--remote=punix:${c}/${db}.sock`,
        `--pidfile=${c}/${db}.pid`,
        `--unixctl=${c}/${db}.ctl`,
        `--log-file=${c}/${db}.log`,
        '--detach',
        '--no-chdir',
      ]);
      await this.track(owner, `ovn-${db}`, `${c}/${db}.pid`);
    }
    await run(
      [
        'ovn-northd',
        `--ovnnb-db=unix:${c}/nb.sock`,
        `--ovnsb-db=unix:${c}/sb.sock`,
        `--pidfile=${c}/northd.pid`,
        `--unixctl=${c}/northd.ctl`,
        `--log-file=${c}/northd.log`,
        '--detach',
        '--no-chdir',
      ],
      { env: { ...process.env, OVN_RUNDIR: c } },
    );
    await this.track(owner, 'ovn-northd', `${c}/northd.pid`);
    for (const h of sb.hosts) await this.startController(h, hostExternalIds(h));
    await this.nb(['--wait=hv', 'sync']);
  }

  /** (Re)starts one host's ovn-controller. */
  async startController(h: SandboxHost, externalIds: string[] = []): Promise<void> {
    const d = h.ovs.runDir;
    // ovn-controller speaks OpenFlow 1.5 to br-int; the sandbox's br-int allows only 1.3 (wyvern's version).
    await h.ovs.vsctl([
      'set',
      'Bridge',
      'br-int',
      'protocols=OpenFlow13,OpenFlow15',
      '--',
      'set',
      'Open_vSwitch',
      '.',
      `external_ids:system-id=${h.name}`,
      `external_ids:hostname=${h.netns}`,
      `external_ids:ovn-remote=unix:${this.dir}/sb.sock`,
      `external_ids:ovn-encap-type=${this.sb.encap}`,
      `external_ids:ovn-encap-ip=${h.tunnelIp}`,
      'external_ids:ovn-bridge=br-int',
      'external_ids:ovn-bridge-datapath-type=netdev',
      ...externalIds,
    ]);
    await run(
      [
        'ip',
        'netns',
        'exec',
        h.netns,
        'ovn-controller',
        `unix:${h.ovs.dbSock}`,
        `--pidfile=${d}/ovn-controller.pid`,
        `--log-file=${d}/ovn-controller.log`,
        '--detach',
        '--no-chdir',
      ],
      // It finds br-int.mgmt under OVS_RUNDIR; its own control socket goes to OVN_RUNDIR.
      { env: { ...process.env, OVS_RUNDIR: d, OVN_RUNDIR: d, OVN_LOGDIR: d } },
    );
    this.controllers.set(h.name, await this.track(h.name, 'ovn-controller', `${d}/ovn-controller.pid`));
  }

  /** Records a daemon's pid with the sandbox (down() ends it) and for controlPids(). */
  private async track(host: string, label: string, pidfile: string): Promise<number> {
    const pid = await pidOf(pidfile);
    this.pids.push(pid);
    await this.sb.trackProcess(host, label, pid);
    return pid;
  }

  /** Every control-plane daemon's pid (controllers, northd, NB/SB). */
  controlPids(): number[] {
    return [...this.pids];
  }

  nb(args: string[]): Promise<string> {
    return run(['ovn-nbctl', '--timeout=120', `--db=unix:${this.dir}/nb.sock`, ...args], { timeoutMs: 130_000 });
  }

  sbctl(args: string[]): Promise<string> {
    return run(['ovn-sbctl', '--timeout=120', `--db=unix:${this.dir}/sb.sock`, ...args], { timeoutMs: 130_000 });
  }
}

async function pidOf(pidfile: string): Promise<number> {
  if (!existsSync(pidfile)) throw new Error(`no pidfile ${pidfile}`);
  return Number((await readFile(pidfile, 'utf8')).trim());
}
