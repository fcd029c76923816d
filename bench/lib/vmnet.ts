/**
 * VM-side helpers of the agent bench, doing exactly what the OVN anchor does (run.sh's vm_make, plug,
 * ping_until, watch_installed), so the two are measured with the same tools and the same costs:
 * a VM is a namespace whose eth0 is a veth into the host's namespace, not yet plugged; plugging is one
 * `ovs-vsctl add-port` (which waits for ovs-vswitchd); readiness is a bash loop of `ping -c1 -W0.1` run inside
 * the VM namespace; the installed mark is seen through `ovs-vsctl wait-until` (an OVSDB monitor, no polling).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execCmd, run } from '../../src/sandbox/run.js';
import { wireVm } from '../../src/sandbox/vm.js';
import { nowUs } from './stats.js';

export const VM_MTU = 1400;

export interface BenchVm {
  netns: string;
  hostNetns: string;
  /** Host-side end of the veth (the br-int port). */
  ifname: string;
  mac: string;
  ip: string;
}

/** Namespace + veth, addressed and up, IPv6 off, TX offload off, fast ARP retries; not plugged (as the sandbox's). */
export async function makeVm(vm: BenchVm, prefixLen = 24): Promise<void> {
  await wireVm({ ...vm, mtu: VM_MTU, ip: `${vm.ip}/${prefixLen}` });
}

/** One ovs-vsctl transaction: add-port with iface-id (returns once ovs-vswitchd applied it). */
export async function plug(dbSock: string, ifname: string, portName: string, extra: string[] = []): Promise<void> {
  await run([
    'ovs-vsctl',
    `--db=unix:${dbSock}`,
    '--timeout=60',
    'add-port',
    'br-int',
    ifname,
    '--',
    'set',
    'Interface',
    ifname,
    `external_ids:iface-id=${portName}`,
    ...extra,
  ]);
}

/** run.sh's ping_until: `ping -n -q -c1 -W0.1` retried inside the VM namespace for up to `seconds`. */
export async function pingUntil(netns: string, ip: string, seconds: number): Promise<boolean> {
  const r = await execCmd(
    [
      'ip',
      'netns',
      'exec',
      netns,
      'bash',
      '-c',
      'end=$((SECONDS + $2)); until ping -n -q -c1 -W0.1 "$1" >/dev/null 2>&1; do [ $SECONDS -lt $end ] || exit 1; done',
      '_',
      ip,
      String(seconds),
    ],
    { timeoutMs: (seconds + 5) * 1000 },
  );
  return r.code === 0;
}

/** Wall-clock µs stamps of one port_ready sequence, taken by bash as run.sh takes them. */
export interface PortSequenceTimes {
  t0: number;
  tApi: number;
  tPlug: number;
  tReady: number;
}

/**
 * run.sh's port_ready sequence driven from bash, as the anchor drives it: the clock, the create (a POST to the
 * agent's API by `busybox wget`, a small client process like `ovn-nbctl lsp-add`; curl alone spends ~9 ms
 * loading its 33 libraries here), the plug (`ovs-vsctl add-port`) and the ping_until loop are forked by one
 * bash, so neither side pays for forking from a large Node process.
 * The bash is started before the clock and waits; call go() to run the sequence.
 */
export function portSequence(o: {
  apiUrl: string;
  body: unknown;
  dbSock: string;
  ifname: string;
  portName: string;
  netns: string;
  pingIp: string;
  timeoutS?: number;
}): { go: () => Promise<PortSequenceTimes> } {
  const script = `
now_us() { echo "\${EPOCHREALTIME/./}"; }
read -r _
t0=$(now_us)
busybox wget -q -O /dev/null --header 'content-type: application/json' --post-data "$2" "$1/v1/ports" || { echo "create failed" >&2; exit 1; }
t_api=$(now_us)
ovs-vsctl --db="unix:$3" --timeout=60 add-port br-int "$4" -- set Interface "$4" external_ids:iface-id="$5" || exit 2
t_plug=$(now_us)
ip netns exec "$6" bash -c 'end=$((SECONDS + $2))
  until ping -n -q -c1 -W0.1 "$1" >/dev/null 2>&1; do [ $SECONDS -lt $end ] || exit 1; done' _ "$7" "$8" || { echo "no ping" >&2; exit 3; }
t1=$(now_us)
echo "$t0 $t_api $t_plug $t1"
`;
  const child = spawn(
    'bash',
    ['-c', script, '_', o.apiUrl, JSON.stringify(o.body), o.dbSock, o.ifname, o.portName, o.netns, o.pingIp, String(o.timeoutS ?? 30)],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const done = outputOf(child).then(({ code, out, err }) => {
    const [t0, tApi, tPlug, tReady] = out.trim().split(' ').map(Number);
    if (code === 0 && t0 && tApi && tPlug && tReady) return { t0, tApi, tPlug, tReady };
    throw new Error(`port sequence for ${o.portName} failed (${code}): ${err.trim()}`);
  });
  done.catch(() => undefined);
  return {
    go: () => {
      child.stdin!.end('go\n');
      return done;
    },
  };
}

/** A child's exit code and whole stdout/stderr ('close', not 'exit': only then has all output been read). */
function outputOf(child: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

/** run.sh's probe: `n` times, the µs one ping_until try takes on a path that is up, timed inside bash. */
export async function probeFromBash(netns: string, ip: string, n: number): Promise<number[]> {
  const out = await run(
    [
      'bash',
      '-c',
      `
now_us() { echo "\${EPOCHREALTIME/./}"; }
for _ in $(seq "$3"); do
  t0=$(now_us)
  ip netns exec "$1" bash -c 'until ping -n -q -c1 -W0.1 "$1" >/dev/null 2>&1; do :; done' _ "$2"
  echo $(( $(now_us) - t0 ))
done`,
      '_',
      netns,
      ip,
      String(n),
    ],
    { timeoutMs: 30_000 },
  );
  return out
    .trim()
    .split('\n')
    .map((l) => Math.round(Number(l) / 100) / 10);
}

/**
 * In the background, `ovs-vsctl wait-until Interface IF external_ids:KEY=true`, then the wall-clock µs
 * at which it returned (taken by the same bash, like run.sh's `now_us`). Resolves to that time.
 */
export function watchMark(dbSock: string, ifname: string, key: string, timeoutS = 60): { done: Promise<number>; cancel: () => void } {
  const child = spawn(
    'bash',
    [
      '-c',
      'ovs-vsctl --db="unix:$1" --timeout="$4" wait-until Interface "$2" "external_ids:$3=true" && echo "${EPOCHREALTIME/./}"',
      '_',
      dbSock,
      ifname,
      key,
      String(timeoutS),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const done = outputOf(child).then(({ code, out, err }) => {
    const t = Number(out.trim());
    if (code === 0 && Number.isFinite(t) && t > 0) return t;
    throw new Error(`${ifname}: ${key} not set (${code}) ${err.trim()}`);
  });
  return { done, cancel: () => child.kill('SIGTERM') };
}

/** VmRSS of a process in MB (one decimal), as the anchor reads ovn-controller's. */
export async function rssMb(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(s)?.[1]);
  return Math.round(kb / 102.4) / 10;
}

/** VmRSS split: RssFile (mapped files: mostly the node binary's own pages) and RssAnon (heap, malloc), MB. */
export async function rssSplitMb(pid: number): Promise<{ file: number; anon: number }> {
  const { readFile } = await import('node:fs/promises');
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const mb = (k: string) => Math.round(Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1]) / 102.4) / 10;
  return { file: mb('RssFile'), anon: mb('RssAnon') };
}

/** One thread's context switches (voluntary + not: each a wake-up or a preemption) and CPU ticks, from /proc. */
async function threadActivity(pid: number, tid: string): Promise<{ switches: number; ticks: number }> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/task/${tid}/status`, 'utf8');
  const n = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  // utime and stime: fields 14 and 15 of stat, 12 and 13 after the command's closing parenthesis.
  const stat = (await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return { switches: n('voluntary_ctxt_switches') + n('nonvoluntary_ctxt_switches'), ticks: Number(stat[11]) + Number(stat[12]) };
}

/**
 * What an idle process does over `seconds`: wake-ups a second of its main thread and of all its threads (context
 * switches, as /proc counts them), and the CPU it used, in % of one core (clock ticks of 10 ms).
 */
export async function idleActivity(pid: number, seconds: number): Promise<{ mainWakeups: number; allWakeups: number; cpuPct: number }> {
  const { readdir } = await import('node:fs/promises');
  const look = async () => {
    const out = new Map<string, { switches: number; ticks: number }>();
    for (const tid of await readdir(`/proc/${pid}/task`))
      out.set(tid, await threadActivity(pid, tid).catch(() => ({ switches: 0, ticks: 0 })));
    return out;
  };
  const a = await look();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const b = await look();
  let all = 0;
  let ticks = 0;
  for (const [tid, x] of b) {
    all += x.switches - (a.get(tid)?.switches ?? 0);
    ticks += x.ticks - (a.get(tid)?.ticks ?? 0);
  }
  const main = b.get(String(pid))!.switches - a.get(String(pid))!.switches;
  const r1 = (v: number) => Math.round(v * 10) / 10;
  return { mainWakeups: r1(main / seconds), allWakeups: r1(all / seconds), cpuPct: Math.round((ticks / seconds) * 100) / 100 };
}

/** RSS of a bare `node` (this runtime, no module loaded, idle 1 s): the floor of any Node.js agent, same run. */
export async function bareNodeRssMb(): Promise<number> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 3000)'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 1000));
    return await rssMb(child.pid!);
  } finally {
    child.kill();
  }
}

export async function flowCount(mgmtSock: string): Promise<number> {
  const out = await run(['ovs-ofctl', '-O', 'OpenFlow13', 'dump-aggregate', mgmtSock]);
  return Number(/flow_count=(\d+)/.exec(out)?.[1] ?? NaN);
}

export { nowUs };

/**
 * A continuous pinger started inside the VM namespace before the clock (`ping -D -i 0.01`): the wall-clock
 * time of its first echo reply measures the network alone, without the per-try cost of ip-netns-exec, bash
 * and ping start-up (which grows to 100+ ms when the kernel is busy tearing namespaces down).
 */
export function startPinger(netns: string, ip: string): { firstReply: Promise<number>; stop: () => void } {
  const child = spawn('ip', ['netns', 'exec', netns, 'ping', '-D', '-n', '-i', '0.01', '-W', '1', ip], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let pending = '';
  const firstReply = new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      const lines = (pending + b.toString()).split('\n');
      pending = lines.pop()!;
      for (const l of lines) {
        const m = /^\[(\d+)\.(\d+)\] \d+ bytes from/.exec(l);
        if (m) resolve(Number(m[1]) * 1e6 + Number(m[2]!.padEnd(6, '0').slice(0, 6)));
      }
    });
    child.on('close', () => reject(new Error(`pinger ${netns} -> ${ip} ended without a reply`)));
  });
  firstReply.catch(() => undefined);
  return { firstReply, stop: () => child.kill('SIGTERM') };
}
