/**
 * npm run bench:agent — wyvern measured exactly as the OVN anchor measures OVN, side by side, in one run.
 *
 * 1. The OVN anchor (/work/shared/anchors/ovn/run.sh) runs first, as a child process; its `metric value unit`
 *    lines and sample lists are parsed. (Sequential, not concurrent: both would share the 2 vCPUs otherwise.)
 * 2. wyvern on the same topology: etcd (one member, loopback) + a sandbox of N hosts (namespaces with their own
 *    ovsdb-server / ovs-vswitchd, userspace datapath, geneve) + one `wyvern agent` per host. One network
 *    10.0.0.0/24 with DHCP; K VMs per host, each a namespace with a veth into br-int (same VM settings as
 *    the anchor: MTU 1400, IPv6 off, TX offload off, ARP retry 10 ms).
 *    - port_ready: port created via the REST API + VIF plugged (ovs-vsctl add-port) → first answered
 *      `ping -c1 -W0.1` (bash loop inside the VM netns) to a VM on the next host; NEW_PORTS samples.
 *    - installed mark: same start → external_ids:wyvern-installed=true (`ovs-vsctl wait-until`).
 *    - steady state: ping RTT, flows per host (dump-aggregate), agent VmRSS, and the idle agent's wake-ups and CPU
 *      over IDLE_S (context switches and clock ticks from /proc). The anchor does not measure ovn-controller's: after
 *      it, one ovn-controller with one bound port is started on a host of its own and counted the same way.
 *    - fresh host: a new host whose K VMs are plugged and ports committed; agent start → first flow, last
 *      flow before STABLE_S of quiet (OpenFlow flow monitor), all VMs wyvern-installed.
 *    - convergence: a port created on one host → its l2_lookup flow (dl_dst=MAC) ADDED on every host of the
 *      network (flow monitors on every host: event-driven, no polling); CONV_PORTS samples.
 *    - RSS with BIG_PORTS logical ports bound on one extra host (OVS internal ports as VIFs): 2 s and SETTLE_S after
 *      the burst, and after SCRAPES scrapes of its /metrics (as Prometheus would).
 *
 * Environment: N K NEW_PORTS PINGS STABLE_S CONV_PORTS BIG_PORTS SETTLE_S SCRAPES IDLE_S ENCAP LOG_LEVEL ETCD_DIR, OVN=0 to skip the anchor,
 * KEEP_LOGS=1 to copy the agents' logs to /tmp before teardown, HOLD=S to keep the sandbox up S seconds
 * after the steady-state measurements (to poke at it), HOLD_BIG=S the same after the 1,000-port RSS.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../src/api/client.js';
import { agentOf, startAgent } from '../src/sandbox/agents.js';
import { Sandbox, type SandboxHost } from '../src/sandbox/index.js';
import { execCmd, run } from '../src/sandbox/run.js';
import { startEtcd, type EtcdCluster } from '../test/helpers/etcd.js';
import { runOvnAnchor, type AnchorResult } from './lib/anchor.js';
import { OvnCentral } from './lib/ovn-central.js';
import { FlowMonitor } from './lib/flowmon.js';
import { formatTimeline, timelineOf } from './lib/start-timeline.js';
import { waitMarked } from './lib/marks.js';
import { max, ms, nowUs, p50, pct, sleep } from './lib/stats.js';
import {
  flowCount,
  makeVm,
  pingUntil,
  plug,
  portSequence,
  probeFromBash,
  bareNodeRssMb,
  idleActivity,
  rssMb,
  rssSplitMb,
  startPinger,
  watchMark,
  type BenchVm,
} from './lib/vmnet.js';

const env = process.env;
const N = Number(env.N ?? 3);
const K = Number(env.K ?? 4);
const NEW_PORTS = Number(env.NEW_PORTS ?? 10);
const PINGS = Number(env.PINGS ?? 20);
const STABLE_S = Number(env.STABLE_S ?? 2);
const CONV_PORTS = Number(env.CONV_PORTS ?? 40);
const BIG_PORTS = Number(env.BIG_PORTS ?? 1000);
/**
 * Seconds after the first 1,000-port RSS reading to read it again (SETTLE_S=0: at once). 30: V8's memory reducer
 * (which returns a burst's garbage) had not run yet 15 s after the burst in 2 runs of 10 (docs/footprint.md).
 */
const SETTLE_S = Number(env.SETTLE_S ?? 30);
/** Scrapes of /metrics on the 1,000-port host before its last RSS reading. */
const SCRAPES = Number(env.SCRAPES ?? 6);
/** Seconds over which the idle hv1's wake-ups and CPU are counted. */
const IDLE_S = Number(env.IDLE_S ?? 10);
const ENCAP = (env.ENCAP ?? 'geneve') as 'geneve' | 'vxlan';
const LOG_LEVEL = env.LOG_LEVEL ?? 'info';
const MARK = 'wyvern-installed';
/**
 * CONT_PING=1 adds a `ping -i 0.01` inside each new VM, started before the clock, to time the network alone.
 * Off by default: the OVN anchor runs no such pinger, and its ARPs and upcalls load the host under test.
 */
const CONT_PING = env.CONT_PING === '1';

const log = (...a: unknown[]) => console.error(`# ${new Date().toISOString().slice(11, 23)}`, ...a);
const vmIp = (h: number, i: number) => `10.0.0.${10 * h + i}`;
const vmMacOf = (h: number, i: number) => `0a:00:00:00:${hex(h)}:${hex(i)}`;
const hex = (n: number) => n.toString(16).padStart(2, '0');

type Metrics = Map<string, number>;

interface Ctx {
  sb: Sandbox;
  etcd: EtcdCluster;
  api: ApiClient;
  monitors: FlowMonitor[];
  m: Metrics;
  samples: Record<string, number[]>;
}

async function preflight(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:agent needs root (network namespaces, OVS)');
  for (const c of ['etcd', 'ovs-vsctl', 'ovs-ofctl', 'ovsdb-server', 'ovs-vswitchd', 'ip', 'ping', 'ethtool', 'stdbuf', 'bash']) {
    if ((await execCmd(['sh', '-c', `command -v ${c}`])).code !== 0) throw new Error(`missing ${c}`);
  }
}

function agentStart(sb: Sandbox, host: string, store: string) {
  return startAgent(sb, host, { store, lazySync: true, logLevel: LOG_LEVEL, encap: ENCAP });
}

async function createPort(api: ApiClient, name: string, network: string, mac: string, ip: string): Promise<void> {
  await api.call('POST', '/v1/ports', { name, network, mac, fixedIps: [{ ip }] });
}

async function waitMarks(sb: Sandbox, vms: string[], timeoutS = 30): Promise<void> {
  await Promise.all(
    vms.map((n) => {
      const v = sb.vm(n);
      return watchMark(sb.host(v.host).ovs.dbSock, v.ifname, MARK, timeoutS).done;
    }),
  );
}

async function baseTopology(c: Ctx): Promise<void> {
  const { sb, api } = c;
  await api.call('POST', '/v1/networks', { name: 'ls0', mtu: 1400 });
  await api.call('POST', '/v1/subnets', {
    name: 'ls0-sub',
    network: 'ls0',
    cidr: '10.0.0.0/24',
    gatewayIp: '10.0.0.1',
    enableDhcp: true,
    leaseTime: 3600,
  });
  log(`creating ${K} VMs per host`);
  const names: string[] = [];
  for (let h = 1; h <= N; h++) {
    for (let i = 1; i <= K; i++) {
      const name = `vm${h}-${i}`;
      await createPort(api, name, 'ls0', vmMacOf(h, i), vmIp(h, i));
      await sb.addVm(`hv${h}`, name, { portId: name, mac: vmMacOf(h, i), ip: `${vmIp(h, i)}/24` });
      names.push(name);
    }
  }
  await waitMarks(sb, names);
  log('all base VMs wyvern-installed; checking cross-host pings');
  for (let a = 1; a <= N; a++) {
    for (let b = 1; b <= N; b++) {
      if (a === b) continue;
      if (!(await pingUntil(sb.vm(`vm${a}-1`).netns, vmIp(b, 1), 10))) throw new Error(`no ping vm${a}-1 -> vm${b}-1`);
    }
  }
  log(`cross-host mesh OK with ${ENCAP}`);
}

async function steadyState(c: Ctx): Promise<void> {
  const { sb, m } = c;
  await sleep(1000);
  const r = await run(['ip', 'netns', 'exec', sb.vm('vm1-1').netns, 'ping', '-n', '-q', '-c', String(PINGS), '-i', '0.05', vmIp(2, 1)]);
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(r)?.[1];
  if (!rtt) throw new Error(`ping_rtt: no reply: ${r}`);
  m.set('ping_rtt_ms', Number(rtt));
  const hv1 = sb.host('hv1');
  m.set('flows_per_hv', await flowCount(hv1.ovs.mgmtSock()));
  m.set('agent_rss_mb', await rssMb(agentOf(hv1)!.pid));
  const split = await rssSplitMb(agentOf(hv1)!.pid);
  m.set('agent_rss_file_mb', split.file);
  m.set('agent_rss_anon_mb', split.anon);
  m.set('bare_node_rss_mb', await bareNodeRssMb());
  const idle = await idleActivity(agentOf(hv1)!.pid, IDLE_S);
  m.set('agent_idle_wakeups_main_per_s', idle.mainWakeups);
  m.set('agent_idle_wakeups_per_s', idle.allWakeups);
  m.set('agent_idle_cpu_pct', idle.cpuPct);
  // Timed inside bash as run.sh does (forking from this Node process costs several ms more).
  const probe = await probeFromBash(sb.vm('vm1-1').netns, vmIp(2, 1), 5);
  c.samples.ping_probe = probe;
  // What a probe try costs before any packet, forked from this Node process: entering the namespace, and
  // bash + ping start-up.
  const execNs: number[] = [];
  const execPing: number[] = [];
  for (let j = 0; j < 5; j++) {
    let t0 = nowUs();
    await run(['ip', 'netns', 'exec', sb.vm('vm1-1').netns, 'true']);
    execNs.push(ms(nowUs() - t0));
    t0 = nowUs();
    await run(['ip', 'netns', 'exec', sb.vm('vm1-1').netns, 'bash', '-c', 'ping -n -q -c1 -W0.1 127.0.0.1 >/dev/null']);
    execPing.push(ms(nowUs() - t0));
  }
  c.samples.exec_netns = execNs;
  c.samples.exec_bash_ping_loopback = execPing;
  m.set('exec_netns_ms_p50', p50(execNs));
  m.set('exec_bash_ping_loopback_ms_p50', p50(execPing));
  m.set('ping_probe_ms_p50', p50(probe));
}

async function portReady(c: Ctx): Promise<void> {
  const { sb, api } = c;
  log(`port_ready: ${NEW_PORTS} new ports`);
  const ready: number[] = [];
  const installed: number[] = [];
  const plugged: number[] = [];
  const created: number[] = [];
  const net: number[] = [];
  for (let j = 1; j <= NEW_PORTS; j++) {
    const h = ((j - 1) % N) + 1;
    const th = (h % N) + 1;
    const host = sb.host(`hv${h}`);
    const name = `new${j}`;
    const vm: BenchVm = {
      netns: `${sb.prefix}-vm-${name}`,
      hostNetns: host.netns,
      ifname: `t-${name}`,
      mac: `0a:00:00:01:00:${hex(j)}`,
      ip: `10.0.0.${100 + j}`,
    };
    await makeVm(vm);
    const w = watchMark(host.ovs.dbSock, vm.ifname, MARK);
    const pinger = CONT_PING ? startPinger(vm.netns, vmIp(th, 1)) : undefined;
    const seq = portSequence({
      apiUrl: api.api,
      body: { name, network: 'ls0', mac: vm.mac, fixedIps: [{ ip: vm.ip }] },
      dbSock: host.ovs.dbSock,
      ifname: vm.ifname,
      portName: name,
      netns: vm.netns,
      pingIp: vmIp(th, 1),
    });
    await sleep(200); // let the watcher connect (and the pinger and the sequence's bash start) before the clock
    const { t0, tApi, tPlug, tReady: t1 } = await seq.go();
    const tMark = await w.done;
    const tNet = pinger ? await pinger.firstReply.finally(() => pinger.stop()) : undefined;
    if (tNet !== undefined) net.push(ms(tNet - t0));
    ready.push(ms(t1 - t0));
    installed.push(ms(tMark - t0));
    plugged.push(ms(tPlug - t0));
    created.push(ms(tApi - t0));
    log(
      `  ${name} hv${h} -> vm${th}-1 (t0 ${t0} µs): api ${ms(tApi - t0)} ms, plugged ${ms(tPlug - t0)} ms, ${MARK} ${ms(tMark - t0)} ms, ping ${ms(t1 - t0)} ms${tNet !== undefined ? `, continuous ping ${ms(tNet - t0)} ms` : ''}`,
    );
    await sleep(500);
  }
  Object.assign(c.samples, { port_ready: ready, port_installed: installed, port_plugged: plugged, port_api: created, port_ready_net: net });
  if (net.length > 0) {
    c.m.set('port_ready_net_ms_p50', p50(net));
    c.m.set('port_ready_net_ms_max', max(net));
  }
  c.m.set('port_ready_ms_p50', p50(ready));
  c.m.set('port_ready_ms_max', max(ready));
  c.m.set('port_installed_ms_p50', p50(installed));
  c.m.set('port_installed_ms_max', max(installed));
  c.m.set('port_plugged_ms_p50', p50(plugged));
  c.m.set('port_api_ms_p50', p50(created));
  c.m.set('ready_minus_plugged_ms_p50', p50(ready.map((r, i) => Math.round((r - plugged[i]!) * 10) / 10)));
  c.m.set('installed_minus_plugged_ms_p50', p50(installed.map((r, i) => Math.round((r - plugged[i]!) * 10) / 10)));
}

/** A port created (API) and plugged (an OVS internal port) on host h → its l2_lookup flow on every host. */
async function convergence(c: Ctx, hosts: SandboxHost[]): Promise<void> {
  const { sb, api, monitors } = c;
  log(`convergence: ${CONV_PORTS} ports, flow monitors on ${hosts.map((h) => h.name).join(', ')}`);
  const fromCreate: number[] = [];
  const fromPlug: number[] = [];
  const remoteAfterLocal: number[] = [];
  for (let j = 1; j <= CONV_PORTS; j++) {
    const hi = (j - 1) % N;
    const host = sb.host(`hv${hi + 1}`);
    const name = `conv${j}`;
    const mac = `0a:00:00:03:00:${hex(j)}`;
    const from = monitors.map((mon) => mon.count);
    const t0 = nowUs();
    await createPort(api, name, 'ls0', mac, `10.0.0.${150 + j}`);
    await plug(host.ovs.dbSock, name, name, ['type=internal']);
    const tPlug = nowUs();
    const seen = await Promise.all(
      monitors.map((mon, k) => mon.waitFor((e) => e.line.includes('event=ADDED') && e.line.includes(`dl_dst=${mac}`), from[k], 10_000)),
    );
    const times = seen.map((e) => e.t);
    const last = Math.max(...times);
    fromCreate.push(ms(last - t0));
    fromPlug.push(ms(last - tPlug));
    const local = times[hi]!;
    remoteAfterLocal.push(ms(Math.max(...times.filter((_, k) => k !== hi)) - local));
    await sleep(50);
  }
  Object.assign(c.samples, { conv_from_create: fromCreate, conv_from_plug: fromPlug, conv_remote_after_local: remoteAfterLocal });
  c.m.set('convergence_ms_p50', p50(fromCreate));
  c.m.set('convergence_ms_p99', pct(fromCreate, 99));
  c.m.set('convergence_from_plug_ms_p50', p50(fromPlug));
  c.m.set('convergence_from_plug_ms_p99', pct(fromPlug, 99));
  c.m.set('convergence_remote_after_local_ms_p50', p50(remoteAfterLocal));
}

async function freshHost(c: Ctx): Promise<SandboxHost> {
  const { sb, api, m } = c;
  const host = await sb.addHost();
  const f = host.index;
  log(`fresh host: ${host.name} with ${K} VMs, then start its agent`);
  const names: string[] = [];
  for (let i = 1; i <= K; i++) {
    const name = `vm${f}-${i}`;
    await createPort(api, name, 'ls0', vmMacOf(f, i), vmIp(f, i));
    await sb.addVm(host.name, name, { portId: name, mac: vmMacOf(f, i), ip: `${vmIp(f, i)}/24` });
    names.push(name);
  }
  const mon = new FlowMonitor(host.ovs.mgmtSock(), { ...process.env, OVS_RUNDIR: host.ovs.runDir });
  try {
    await mon.whenReady();
    const marks = names.map((n) => watchMark(host.ovs.dbSock, sb.vm(n).ifname, MARK));
    await sleep(200);
    if ((await flowCount(host.ovs.mgmtSock())) !== 0) throw new Error(`${host.name} br-int has flows before its agent runs`);
    const t0 = nowUs();
    const info = await agentStart(sb, host.name, c.etcd.url);
    const tReady = nowUs();
    const q = await mon.quiet(STABLE_S * 1000, 60_000);
    const tMarks = await Promise.all(marks.map((w) => w.done));
    m.set('fresh_hv_flows_stable_ms', ms(q.last - t0));
    m.set('fresh_hv_first_flow_ms', ms(q.first - t0));
    m.set('fresh_hv_installed_ms', ms(Math.max(...tMarks) - t0));
    m.set('fresh_hv_flows', await flowCount(host.ovs.mgmtSock()));
    m.set('fresh_hv_agent_ready_ms', ms(tReady - t0));
    if (!(await pingUntil(sb.vm(`vm${f}-1`).netns, vmIp(1, 1), 10))) throw new Error(`vm${f}-1 cannot reach vm1-1`);
    log(
      `  ${host.name}: first flow ${ms(q.first - t0)} ms, last flow ${ms(q.last - t0)} ms (${q.events} flow changes, ${m.get('fresh_hv_flows')} flows),` +
        ` all ${K} VMs ${MARK} ${m.get('fresh_hv_installed_ms')} ms, ready file ${ms(tReady - t0)} ms; vm${f}-1 -> vm1-1 ping OK` +
        (mon.paused ? ` (monitor paused ${mon.paused}x)` : ''),
    );
    // Where the start went, in the agent's own words (ms since its process began; the spawn is a few ms before).
    const timeline = await timelineOf(info.log);
    if (timeline) log(`  ${host.name} start timeline: ${formatTimeline(timeline)}`);
  } finally {
    mon.stop();
  }
  return sb.host(host.name);
}

/** BIG_PORTS logical ports bound on one new host: OVS internal ports as VIFs (one tap each, no VM netns). */
async function bigHost(c: Ctx): Promise<void> {
  const { sb, m } = c;
  const host = await sb.addHost();
  const info = await agentStart(sb, host.name, c.etcd.url);
  await sleep(1000);
  m.set('agent_rss_mb_fresh_0ports', await rssMb(info.pid));
  // Ports are created through hv1's API, so this agent's RSS holds the bound ports, not API garbage.
  const api = c.api;
  log(`rss: ${BIG_PORTS} ports on ${host.name} (network big, 10.1.0.0/20)`);
  await api.call('POST', '/v1/networks', { name: 'big' });
  await api.call('POST', '/v1/subnets', { name: 'big-sub', network: 'big', cidr: '10.1.0.0/20', enableDhcp: true });
  const t0 = nowUs();
  const idx = Array.from({ length: BIG_PORTS }, (_, i) => i);
  // Sequential: concurrent creates contend on the store's allocation keys and retry.
  for (let i = 0; i < idx.length; i += 1) {
    await Promise.all(
      idx
        .slice(i, i + 1)
        .map((k) =>
          createPort(api, `big${k}`, 'big', `0a:00:01:00:${hex(k >> 8)}:${hex(k & 255)}`, `10.1.${(k + 10) >> 8}.${(k + 10) & 255}`),
        ),
    );
  }
  const tApi = nowUs();
  for (let i = 0; i < idx.length; i += 100) {
    const args = idx
      .slice(i, i + 100)
      .flatMap((k) => [
        '--',
        'add-port',
        'br-int',
        `b${k}`,
        '--',
        'set',
        'Interface',
        `b${k}`,
        'type=internal',
        `external_ids:iface-id=big${k}`,
      ]);
    await run(['ovs-vsctl', `--db=unix:${host.ovs.dbSock}`, '--timeout=120', ...args], { timeoutMs: 180_000 });
  }
  const tPlug = nowUs();
  await waitMarked(host, MARK, BIG_PORTS, 120_000);
  const tMarked = nowUs();
  await sleep(2000);
  m.set('agent_rss_mb_1000ports', await rssMb(info.pid));
  m.set('agent_rss_anon_mb_1000ports', (await rssSplitMb(info.pid)).anon);
  // Again once the install burst's garbage is collected (V8's memory reducer acts after some seconds of quiet):
  // the first figure is what the agent holds 2 s after its busiest moment, this one what it keeps.
  await sleep(SETTLE_S * 1000);
  m.set('agent_rss_mb_1000ports_settled', await rssMb(info.pid));
  m.set('agent_rss_anon_mb_1000ports_settled', (await rssSplitMb(info.pid)).anon);
  // As Prometheus would (every 15–30 s in practice): six scrapes of /metrics, 3 s apart, then the RSS. Each scrape
  // walks every installed flow; what it leaves behind is memory an operator's agent holds and the readings above do not.
  const scraper = new ApiClient(info.api);
  for (let i = 0; i < SCRAPES; i++) {
    await scraper.raw('GET', '/metrics');
    await sleep(3000);
  }
  m.set('agent_rss_mb_1000ports_scraped', await rssMb(info.pid));
  m.set('big_flows', await flowCount(host.ovs.mgmtSock()));
  m.set('big_api_s', Math.round((tApi - t0) / 1e5) / 10);
  m.set('big_plug_s', Math.round((tPlug - tApi) / 1e5) / 10);
  m.set('big_all_installed_after_plug_s', Math.round((tMarked - tPlug) / 1e5) / 10);
  log(
    `  ${BIG_PORTS} ports: API ${m.get('big_api_s')} s, plug ${m.get('big_plug_s')} s, all ${MARK} ${m.get('big_all_installed_after_plug_s')} s after the last plug; ` +
      `${m.get('big_flows')} flows; RSS ${m.get('agent_rss_mb_1000ports')} MB, ${SETTLE_S} s later ${m.get('agent_rss_mb_1000ports_settled')} MB, ` +
      `after ${SCRAPES} scrapes of /metrics ${m.get('agent_rss_mb_1000ports_scraped')} MB`,
  );
  if (env.HOLD_BIG) {
    log(`holding ${host.name} (agent pid ${info.pid}) for ${env.HOLD_BIG} s`);
    await sleep(Number(env.HOLD_BIG) * 1000);
  }
}

async function wyvern(): Promise<{ m: Metrics; samples: Record<string, number[]> }> {
  const m: Metrics = new Map();
  const samples: Record<string, number[]> = {};
  const tStart = nowUs();
  // ETCD_DIR=/dev/shm puts etcd's data (and so its per-write fsync) on tmpfs; default: the disk under $TMPDIR.
  const etcdDir = env.ETCD_DIR ? await mkdtemp(join(env.ETCD_DIR, 'wyvern-bench-etcd-')) : undefined;
  const etcd = await startEtcd(etcdDir ? { dataDir: etcdDir } : {});
  let sb: Sandbox | undefined;
  const monitors: FlowMonitor[] = [];
  // Ctrl-C / SIGTERM: tear down what this run built (by the sandbox's own records), then exit.
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: cleaning up`);
    for (const mon of monitors) mon.stop();
    void (sb?.down() ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => etcd.stop())
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    sb = await Sandbox.up({ hosts: N, encap: ENCAP });
    log(`sandbox ${sb.prefix}: ${N} hosts, ${ENCAP}; etcd ${etcd.url}; agents at log level ${LOG_LEVEL}`);
    await Promise.all(sb.hosts.map((h) => agentStart(sb!, h.name, etcd.url)));
    const api = new ApiClient(agentOf(sb.host('hv1'))!.api);
    const c: Ctx = { sb, etcd, api, monitors, m, samples };
    await baseTopology(c);
    m.set('setup_s', Math.round((nowUs() - tStart) / 1e5) / 10);
    await steadyState(c);
    if (env.HOLD) {
      log(`holding the sandbox for ${env.HOLD} s (prefix ${sb.prefix}, run dir ${sb.runDir})`);
      await sleep(Number(env.HOLD) * 1000);
    }
    await portReady(c);
    const fresh = await freshHost(c);
    for (const h of [...sb.hosts.filter((x) => x.index <= N), fresh]) {
      const mon = new FlowMonitor(h.ovs.mgmtSock(), { ...process.env, OVS_RUNDIR: h.ovs.runDir });
      monitors.push(mon);
      await mon.whenReady();
    }
    if (CONV_PORTS > 0) await convergence(c, [...sb.hosts.filter((x) => x.index <= N), fresh]);
    for (const mon of monitors.splice(0)) mon.stop();
    if (BIG_PORTS > 0) await bigHost(c);
    m.set('total_s', Math.round((nowUs() - tStart) / 1e5) / 10);
    return { m, samples };
  } finally {
    for (const mon of monitors) mon.stop();
    if (sb && env.KEEP_LOGS === '1') {
      const dir = await mkdtemp(join(tmpdir(), 'wyvern-bench-logs-'));
      for (const h of sb.hosts) {
        const a = agentOf(h);
        if (a) await cp(a.log, join(dir, `${h.name}.agent.log`)).catch(() => undefined);
      }
      log(`agent logs kept in ${dir}`);
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await sb?.down().catch((err) => log('sandbox teardown:', (err as Error).message));
    await etcd.stop();
    if (etcdDir) await rm(etcdDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- report
const ROWS: [label: string, wyvern: string, ovn: string, unit: string][] = [
  ['port_ready p50', 'port_ready_ms_p50', 'port_ready_ms_p50', 'ms'],
  ['port_ready max', 'port_ready_ms_max', 'port_ready_ms_max', 'ms'],
  ['installed mark p50 (wyvern-installed / ovn-installed)', 'port_installed_ms_p50', 'port_ovn_installed_ms_p50', 'ms'],
  ['installed mark max', 'port_installed_ms_max', 'port_ovn_installed_ms_max', 'ms'],
  ['port_plugged p50 (create + plug returned)', 'port_plugged_ms_p50', 'port_plugged_ms_p50', 'ms'],
  ['  of which create (API POST / ovn-nbctl lsp-add)', 'port_api_ms_p50', 'port_api_ms_p50', 'ms'],
  ['ping_probe p50', 'ping_probe_ms_p50', 'ping_probe_ms_p50', 'ms'],
  ['  ip netns exec true p50', 'exec_netns_ms_p50', '-', 'ms'],
  ['  ip netns exec + bash + ping 127.0.0.1 p50', 'exec_bash_ping_loopback_ms_p50', '-', 'ms'],
  ['port_ready by a continuous ping (-i 0.01) p50', 'port_ready_net_ms_p50', '-', 'ms'],
  ['port_ready by a continuous ping max', 'port_ready_net_ms_max', '-', 'ms'],
  ['port_ready − port_plugged p50', 'ready_minus_plugged_ms_p50', 'ready_minus_plugged_ms_p50', 'ms'],
  ['installed − plugged p50', 'installed_minus_plugged_ms_p50', 'installed_minus_plugged_ms_p50', 'ms'],
  ['ping_rtt', 'ping_rtt_ms', 'ping_rtt_ms', 'ms'],
  ['flows per host (hv1)', 'flows_per_hv', 'flows_per_hv', 'flows'],
  ['agent RSS idle (hv1)', 'agent_rss_mb', 'ovn_controller_rss_mb', 'MB'],
  ['  of which mapped files (the node binary)', 'agent_rss_file_mb', '-', 'MB'],
  ['  anonymous', 'agent_rss_anon_mb', '-', 'MB'],
  ['  a bare `node` (no module loaded), same run', 'bare_node_rss_mb', '-', 'MB'],
  [`agent idle wake-ups/s, main thread (hv1, over IDLE_S)`, 'agent_idle_wakeups_main_per_s', 'ovn_idle_wakeups_main_per_s', '/s'],
  ['  all threads', 'agent_idle_wakeups_per_s', 'ovn_idle_wakeups_per_s', '/s'],
  ['agent idle CPU (% of a core)', 'agent_idle_cpu_pct', 'ovn_idle_cpu_pct', '%'],
  ['agent RSS, fresh agent, 0 ports', 'agent_rss_mb_fresh_0ports', '-', 'MB'],
  [`agent RSS, ${BIG_PORTS} ports bound on the host`, 'agent_rss_mb_1000ports', '-', 'MB'],
  ['  anonymous', 'agent_rss_anon_mb_1000ports', '-', 'MB'],
  [`agent RSS, ${BIG_PORTS} ports, SETTLE_S later`, 'agent_rss_mb_1000ports_settled', '-', 'MB'],
  ['  anonymous', 'agent_rss_anon_mb_1000ports_settled', '-', 'MB'],
  [`agent RSS, ${BIG_PORTS} ports, then ${SCRAPES} scrapes of /metrics 3 s apart`, 'agent_rss_mb_1000ports_scraped', '-', 'MB'],
  ['fresh host: flows stable', 'fresh_hv_flows_stable_ms', 'fresh_hv_flows_stable_ms', 'ms'],
  ['fresh host: first flow', 'fresh_hv_first_flow_ms', 'fresh_hv_first_flow_ms', 'ms'],
  ['fresh host: all VMs installed', 'fresh_hv_installed_ms', 'fresh_hv_ovn_installed_ms', 'ms'],
  ['fresh host: flows', 'fresh_hv_flows', 'fresh_hv_flows', 'flows'],
  ['convergence p50 (create → flow on all hosts)', 'convergence_ms_p50', '-', 'ms'],
  ['convergence p99', 'convergence_ms_p99', '-', 'ms'],
  ['convergence from plug p50', 'convergence_from_plug_ms_p50', '-', 'ms'],
  ['convergence from plug p99', 'convergence_from_plug_ms_p99', '-', 'ms'],
  ['  remote hosts after the local one p50', 'convergence_remote_after_local_ms_p50', '-', 'ms'],
  ['setup', 'setup_s', 'setup_s', 's'],
];

/** OVN's per-sample differences, from the anchor's "# ... samples (ms): ..." lines. */
function ovnDerived(a: AnchorResult): Metrics {
  const m: Metrics = new Map([...a.metrics].map(([k, v]) => [k, v.value]));
  const list = (what: string) => {
    const l = a.notes.find((n) => n.startsWith(`# ${what} samples (ms):`));
    return l ? l.split(':')[1]!.trim().split(/\s+/).map(Number) : [];
  };
  const ready = list('port_ready');
  const inst = list('port_ovn_installed');
  const plugged = list('port_plugged');
  const lspAdd = a.progress
    .map((l) => /lsp-add ([\d.]+) ms/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined)
    .map(Number);
  if (lspAdd.length) m.set('port_api_ms_p50', p50(lspAdd));
  if (ready.length && ready.length === plugged.length) {
    m.set('ready_minus_plugged_ms_p50', p50(ready.map((r, i) => Math.round((r - plugged[i]!) * 10) / 10)));
    m.set('installed_minus_plugged_ms_p50', p50(inst.map((r, i) => Math.round((r - plugged[i]!) * 10) / 10)));
  }
  return m;
}

function unitOf(k: string): string {
  if (k.endsWith('_per_s')) return '/s';
  if (k.endsWith('_pct')) return '%';
  if (k.endsWith('_s')) return 's';
  if (k.includes('_mb')) return 'MB';
  if (k.includes('_ms')) return 'ms';
  return 'flows';
}

function fmt(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? '—' : String(v);
}

function report(w: Metrics, o: Metrics | undefined): void {
  const lines = [
    '| metric | wyvern | OVN | unit |',
    '|---|---|---|---|',
    ...ROWS.map(([label, wk, ok, unit]) => `| ${label} | ${fmt(w.get(wk))} | ${ok === '-' || !o ? '—' : fmt(o.get(ok))} | ${unit} |`),
  ];
  console.log(lines.join('\n'));
}

/**
 * The anchor does not count ovn-controller's idle wake-ups: one ovn-controller (bench/lib/ovn-central.ts, started as
 * the anchor starts it) on a host of its own with one bound port, idle, counted as hv1's agent is (IDLE_S).
 */
async function ovnControllerIdle(): Promise<{ mainWakeups: number; allWakeups: number; cpuPct: number }> {
  const sb = await Sandbox.up({ hosts: 1, encap: ENCAP });
  try {
    const central = new OvnCentral();
    await central.start(sb);
    await central.nb(['ls-add', 'idle0']);
    await central.nb(['lsp-add', 'idle0', 'idle-vm1', '--', 'lsp-set-addresses', 'idle-vm1', '0a:00:00:00:00:01 10.9.0.11']);
    await sb.addVm(sb.hosts[0]!.name, 'idle-vm1', { portId: 'idle-vm1', mac: '0a:00:00:00:00:01', ip: '10.9.0.11/24' });
    await central.nb(['--wait=hv', 'sync']);
    await sleep(2000);
    return await idleActivity(central.controllers.get(sb.hosts[0]!.name)!, IDLE_S);
  } finally {
    await sb.down().catch((err) => log('sandbox teardown:', (err as Error).message));
  }
}

async function main(): Promise<void> {
  await preflight();
  let ovn: Metrics | undefined;
  if (env.OVN !== '0') {
    log('OVN anchor: bash /work/shared/anchors/ovn/run.sh');
    // HOLD and KEEP mean something else to run.sh: never pass ours down.
    const a = await runOvnAnchor({
      env: { N: String(N), K: String(K), NEW_PORTS: String(NEW_PORTS), ENCAP, STABLE_S: String(STABLE_S), HOLD: '0', KEEP: '0' },
      echo: (l) => console.error(`  [ovn] ${l}`),
    });
    for (const n of a.notes) console.log(`# [ovn] ${n.replace(/^# /, '')}`);
    for (const [k, v] of a.metrics) console.log(`ovn_${k} ${v.value} ${v.unit}`);
    ovn = ovnDerived(a);
    const idle = await ovnControllerIdle();
    ovn.set('ovn_idle_wakeups_main_per_s', idle.mainWakeups);
    ovn.set('ovn_idle_wakeups_per_s', idle.allWakeups);
    ovn.set('ovn_idle_cpu_pct', idle.cpuPct);
    console.log(`ovn_controller_idle_wakeups_main_per_s ${idle.mainWakeups} /s`);
    console.log(`ovn_controller_idle_wakeups_per_s ${idle.allWakeups} /s`);
    console.log(`ovn_controller_idle_cpu_pct ${idle.cpuPct} %`);
  }
  log('wyvern');
  const { m, samples } = await wyvern();
  for (const [k, v] of Object.entries(samples)) console.log(`# [wyvern] ${k} samples (ms): ${v.join(' ')}`);
  for (const [k, v] of m) console.log(`wyvern_${k} ${v} ${unitOf(k)}`);
  console.log(`\n# wyvern vs OVN, N=${N} K=${K}, ${ENCAP}, userspace datapath, ${new Date().toISOString()}`);
  report(m, ovn);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
