/**
 * One simulated hypervisor's Open vSwitch: its own ovsdb-server and ovs-vswitchd (userspace datapath) running
 * inside a network namespace, with every socket, pidfile, log and the database under one run directory.
 *
 * Sockets are files, so the OVSDB socket, the unixctl sockets and the bridges' OpenFlow management sockets
 * (`<runDir>/<bridge>.mgmt`, because ovs-vswitchd runs with OVS_RUNDIR=runDir) are reachable from any namespace.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../util/log.js';
import { createNetns, deleteNetns, netnsExec } from './netns.js';
import { createOvsdb, ovsdbServerCommand } from './ovsdb-server.js';
import { cmdline, isAlive, killAndWait, readPidfile, waitFor } from './proc.js';
import { execCmd, run, type ExecResult } from './run.js';

export interface OvsHost {
  name: string;
  netns: string;
  runDir: string;
  /** Unix socket path of this host's ovsdb-server. */
  dbSock: string;
  /** `${runDir}/<bridge>.mgmt` (default bridge br-int): the OpenFlow management socket, reachable from any netns. */
  mgmtSock(bridge?: string): string;
  /** ovs-vsctl --db=unix:dbSock … (global options such as --no-wait may lead `args`). */
  vsctl(args: string[]): Promise<string>;
  /** ovs-ofctl with `args` as given (the caller names the target, e.g. mgmtSock()). */
  ofctl(args: string[]): Promise<string>;
  /** ovs-appctl -t <runDir>/vswitchd.ctl … */
  appctl(args: string[]): Promise<string>;
  /** Runs a command inside the host's namespace; never rejects on exit status. */
  exec(cmd: string[]): Promise<ExecResult>;
  /**
   * Kills ovs-vswitchd and ovsdb-server by their pidfile pids (failure injection); keeps db and netns.
   * `daemons` limits it to one of them (e.g. only ovs-vswitchd: a restart of the switch under a live database).
   */
  stop(opts?: StopOvsOptions): Promise<void>;
  /** (Re)starts both from the same database and waits until they answer (and br-int's mgmt socket, if any). */
  start(): Promise<void>;
  /** Stops both and removes what startOvsHost created (the netns and run dir, if it created them). */
  destroy(): Promise<void>;
  /** Pids of the running daemons (undefined when not running). */
  pids(): Promise<{ ovsdb?: number; vswitchd?: number }>;
}

export type OvsDaemon = 'ovsdb-server' | 'ovs-vswitchd';

export interface StopOvsOptions {
  signal?: NodeJS.Signals;
  /** Which daemons to kill; default both. */
  daemons?: readonly OvsDaemon[];
}

export interface StartOvsHostOptions {
  name: string;
  /** Default: <tmpdir>/wyvern-ovs-<name>. Keep it short: unix socket paths are limited to 107 bytes. */
  runDir?: string;
  /** Default: `name`. Created if missing (and then deleted by destroy()). */
  netns?: string;
  /** Create br-int (netdev, OpenFlow13, fail_mode=secure, disable-in-band). Default true. */
  createBridge?: boolean;
  logger?: Logger;
}

const CMD_TIMEOUT_MS = 30_000;

export interface OvsHostHandleOptions {
  name: string;
  netns: string;
  runDir: string;
  /** destroy() deletes the namespace / run dir only when the handle owns them. */
  ownsNetns?: boolean;
  ownsRunDir?: boolean;
  logger?: Logger;
}

/**
 * Starts (or restarts) one host's OVS: creates the namespace and database if missing, starts both daemons,
 * and with createBridge (default) ensures br-int. Resolves once br-int answers OpenFlow on its mgmt socket.
 */
export async function startOvsHost(opts: StartOvsHostOptions): Promise<OvsHost> {
  const netns = opts.netns ?? opts.name;
  const runDir = opts.runDir ?? join(tmpdir(), `wyvern-ovs-${opts.name}`);
  const ownsRunDir = !existsSync(runDir);
  await mkdir(runDir, { recursive: true });
  const ownsNetns = await createNetns(netns);
  const host = ovsHostHandle({ name: opts.name, netns, runDir, ownsNetns, ownsRunDir, logger: opts.logger });
  try {
    await host.start();
    if (
      (opts.createBridge ?? true) &&
      (await execCmd(['ovs-vsctl', `--db=unix:${host.dbSock}`, '--timeout=10', 'br-exists', 'br-int'])).code !== 0
    ) {
      // Without --no-wait, ovs-vsctl returns once ovs-vswitchd has applied the change.
      await host.vsctl([
        '--may-exist',
        'add-br',
        'br-int',
        '--',
        'set',
        'Bridge',
        'br-int',
        'datapath_type=netdev',
        'protocols=OpenFlow13',
        'fail_mode=secure',
        'other_config:disable-in-band=true',
      ]);
      await host.start(); // both daemons already run: this only waits for br-int's mgmt socket
    }
  } catch (err) {
    await host.destroy().catch(() => undefined);
    throw err;
  }
  (opts.logger ?? silentLogger).info({ ovsHost: opts.name, netns, runDir }, 'OVS host up');
  return host;
}

/**
 * A handle on a host's OVS without side effects: used to reattach to a host made by another process
 * (Sandbox.load) as well as by startOvsHost.
 */
export function ovsHostHandle(opts: OvsHostHandleOptions): OvsHost {
  const log = (opts.logger ?? silentLogger).child({ ovsHost: opts.name });
  const { netns, runDir } = opts;
  const dbSock = join(runDir, 'db.sock');
  const f = {
    db: join(runDir, 'conf.db'),
    ovsdbPid: join(runDir, 'ovsdb.pid'),
    ovsdbCtl: join(runDir, 'ovsdb.ctl'),
    vswitchdPid: join(runDir, 'vswitchd.pid'),
    vswitchdCtl: join(runDir, 'vswitchd.ctl'),
  };
  if (Buffer.byteLength(join(runDir, 'br-phy.mgmt')) > 100) throw new Error(`runDir too long for unix sockets: ${runDir}`);
  const env = { ...process.env, OVS_RUNDIR: runDir, OVS_LOGDIR: runDir, OVS_DBDIR: runDir };

  const mgmtSock = (bridge = 'br-int') => join(runDir, `${bridge}.mgmt`);
  const vsctl = (args: string[]) =>
    run(['ovs-vsctl', `--db=unix:${dbSock}`, `--timeout=${CMD_TIMEOUT_MS / 1000}`, ...args], { timeoutMs: CMD_TIMEOUT_MS + 5_000 });
  const ofctl = (args: string[]) => run(['ovs-ofctl', ...args], { timeoutMs: CMD_TIMEOUT_MS });
  const appctl = (args: string[]) => run(['ovs-appctl', '-t', f.vswitchdCtl, ...args], { timeoutMs: CMD_TIMEOUT_MS });
  const exec = (cmd: string[]) => netnsExec(netns, cmd, CMD_TIMEOUT_MS);

  /** The pid in a pidfile, only if that process is alive and is one of ours (its command line names runDir). */
  const ourPid = async (pidfile: string): Promise<number | undefined> => {
    const pid = await readPidfile(pidfile);
    if (pid === undefined || !(await isAlive(pid))) return undefined;
    return (await cmdline(pid)).includes(runDir) ? pid : undefined;
  };
  const pids = async () => ({ ovsdb: await ourPid(f.ovsdbPid), vswitchd: await ourPid(f.vswitchdPid) });

  /** Runs a daemon that detaches itself once it is up; on failure, the tail of its log explains why. */
  const daemon = async (what: string, cmd: string[], logFile: string) => {
    const r = await execCmd(['ip', 'netns', 'exec', netns, ...cmd], { env, timeoutMs: CMD_TIMEOUT_MS });
    if (r.code !== 0) {
      const tail = await execCmd(['tail', '-n', '5', logFile]);
      throw new Error(`could not start ${what} for ${opts.name} (exit ${r.code}): ${r.stderr.trim()}\n${tail.stdout}`);
    }
  };

  const bridgeExists = async (br: string) =>
    (await execCmd(['ovs-vsctl', `--db=unix:${dbSock}`, '--timeout=10', 'br-exists', br])).code === 0;
  const answers = async (cmd: string[]) => (await execCmd(cmd, { timeoutMs: 5_000 })).code === 0;

  const start = async () => {
    const running = await pids();
    if (!existsSync(f.db)) await createOvsdb(f.db);
    if (running.ovsdb === undefined) {
      // A killed server leaves its socket behind; it belongs to nobody now.
      await unlink(dbSock).catch(() => undefined);
      const logFile = join(runDir, 'ovsdb.log');
      await daemon(
        'ovsdb-server',
        ovsdbServerCommand({ db: f.db, sock: dbSock, pidfile: f.ovsdbPid, unixctl: f.ovsdbCtl, logFile }),
        logFile,
      );
      await waitFor(`ovsdb-server of ${opts.name}`, () =>
        answers(['ovs-vsctl', `--db=unix:${dbSock}`, '--timeout=5', '--no-wait', 'init']),
      );
      log.debug({ pid: await readPidfile(f.ovsdbPid) }, 'ovsdb-server up');
    }
    if (running.vswitchd === undefined) {
      await daemon(
        'ovs-vswitchd',
        [
          'ovs-vswitchd',
          `unix:${dbSock}`,
          `--pidfile=${f.vswitchdPid}`,
          `--unixctl=${f.vswitchdCtl}`,
          `--log-file=${join(runDir, 'vswitchd.log')}`,
          '--detach',
          '--no-chdir',
        ],
        join(runDir, 'vswitchd.log'),
      );
      await waitFor(`ovs-vswitchd of ${opts.name}`, () => answers(['ovs-appctl', '-t', f.vswitchdCtl, 'version']));
      log.debug({ pid: await readPidfile(f.vswitchdPid) }, 'ovs-vswitchd up');
    }
    // After a restart the bridges come back from the database: wait until br-int answers OpenFlow.
    if (await bridgeExists('br-int')) await waitForMgmt('br-int');
  };

  const waitForMgmt = (br: string) =>
    waitFor(
      `${br} management socket of ${opts.name}`,
      () => existsSync(mgmtSock(br)) && answers(['ovs-ofctl', '-O', 'OpenFlow13', 'show', mgmtSock(br)]),
    );

  const stop = async (o: StopOvsOptions = {}) => {
    const p = await pids();
    const which = new Set(o.daemons ?? ['ovsdb-server', 'ovs-vswitchd']);
    // ovs-vswitchd first: it is the OVSDB client; killing the server under it only makes it reconnect.
    if (p.vswitchd !== undefined && which.has('ovs-vswitchd')) await killAndWait(p.vswitchd, o.signal ?? 'SIGKILL');
    if (p.ovsdb !== undefined && which.has('ovsdb-server')) await killAndWait(p.ovsdb, o.signal ?? 'SIGKILL');
    log.debug({ pids: p }, 'stopped');
  };

  const destroy = async () => {
    await stop({ signal: 'SIGTERM' });
    if (opts.ownsNetns) await deleteNetns(netns);
    if (opts.ownsRunDir) await rm(runDir, { recursive: true, force: true });
  };

  return { name: opts.name, netns, runDir, dbSock, mgmtSock, vsctl, ofctl, appctl, exec, stop, start, destroy, pids };
}
