/**
 * npm run bench:sg — wyvern's security groups beside OVN's, in the same run, on the same kind of sandbox.
 *
 * Each side (OVN first, then wyvern; one after the other, never together on the 2 vCPUs) gets a fresh Sandbox
 * of HOSTS hosts (namespaces with their own ovsdb-server / ovs-vswitchd, userspace datapath, geneve) and
 * builds the same policy through its own tools (bench/lib/ovn-sg.ts: ovn-nbctl port groups, address sets,
 * ACLs; bench/lib/wyvern-sg.ts: the REST API):
 *   - group `web` with WEB ports spread over the hosts; GROUPS groups db1..dbN, each with PER_GROUP ports
 *     (spread over the hosts) and one rule `ingress tcp 5432 remote-group web`;
 *   - every port has port security (MAC + IP) and is bound as an OVS internal port with its iface-id —
 *     the same binding on both sides.
 * Measured:
 *   1. flows per host once quiet: all of br-int, and the ACL tables only;
 *   2. rule add: a new `ingress tcp 6000+i remote-group web` rule on a db group → its flows on every host with
 *      a member of that group (OpenFlow flow monitors, event-driven: first flow with tp_dst=6000+i, and
 *      "settled" = the last flow change before QUIET_MS of quiet); RULE_SAMPLES samples;
 *   3. port join: a new port in `web` created and bound → its address in the ACL flows of every host
 *      (first flow with nw_src=its IP in an ACL table; settled as above); JOIN_SAMPLES samples;
 *   Both also charge the control plane's CPU time (/proc utime+stime) to each change: wyvern's agents + etcd,
 *   OVN's ovn-controllers + ovn-northd + NB/SB ovsdb-servers (read before the call and after settling).
 *   4. traffic from client VMs (hv1) to server VMs (hv2), veth VMs: iperf3 throughput and new TCP
 *      connections/s, a pair without groups beside a pair with the client in `web` and the server in `srv`
 *      (TRAFFIC_RULES rules, two of which allow the test ports from web), alternating, ROUNDS rounds;
 *      checks that a port no rule allows is blocked.
 * Environment: HOSTS(3) WEB(500) SG_GROUPS(20) PER_GROUP(3) RULE_SAMPLES(10) JOIN_SAMPLES(10) TRAFFIC_RULES(50)
 *   IPERF_S(4) CONN_S(4) CONN_PAR(4) ROUNDS(5) QUIET_MS(500) SIDES(ovn,wyvern) TRAFFIC(1) LOG_LEVEL(warn),
 *   HOLD_ON_FAIL(seconds to keep a failed side's sandbox up).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Sandbox, type SandboxHost } from '../src/sandbox/index.js';
import { execCmd } from '../src/sandbox/run.js';
import { FlowMonitor } from './lib/flowmon.js';
import { ensureOvnPackages, OvnSg } from './lib/ovn-sg.js';
import { waitMarked } from './lib/marks.js';
import { addr, bindInternal, cpuMs, macOf, type PortSpec, type SgSide } from './lib/sg-side.js';
import { max, ms, nowUs, p50, sleep } from './lib/stats.js';
import { CONN_PORT, connRate, IPERF_PORT, iperf, tcpOpen } from './lib/traffic.js';
import { watchMark } from './lib/vmnet.js';
import { WyvernSg } from './lib/wyvern-sg.js';

const env = process.env;
const num = (k: string, d: number) => Number(env[k] ?? d);
const HOSTS = num('HOSTS', 3);
const WEB = num('WEB', 500);
const GROUPS = num('SG_GROUPS', 20); // not GROUPS: bash ignores assignments to its own GROUPS variable
const PER_GROUP = num('PER_GROUP', 3);
const RULE_SAMPLES = num('RULE_SAMPLES', 10);
const JOIN_SAMPLES = num('JOIN_SAMPLES', 10);
const TRAFFIC_RULES = num('TRAFFIC_RULES', 50);
const IPERF_S = num('IPERF_S', 4);
const CONN_S = num('CONN_S', 4);
const CONN_PAR = num('CONN_PAR', 4);
const ROUNDS = num('ROUNDS', 5);
const QUIET_MS = num('QUIET_MS', 500);
const SIDES = (env.SIDES ?? 'ovn,wyvern').split(',') as ('ovn' | 'wyvern')[];
const TRAFFIC = env.TRAFFIC !== '0';
/**
 * OVN's connection-rate run is opt-in: with OVN's flows (ct(…,nat) on every IP packet of a switch that has
 * stateful ACLs) the conn/s loop kills OVS 3.1.0's userspace datapath here (conntrack.c:1063 assertion
 * conn->conn_type == CT_CONN_TYPE_DEFAULT in conn_update_state()), seen on two hosts at once.
 */
const OVN_CONN = env.OVN_CONN === '1';

const log = (...a: unknown[]) => console.error(`# ${new Date().toISOString().slice(11, 23)}`, ...a);
type Metrics = Map<string, number>;
/** Phases that failed, for the report's end. */
const FAILED: string[] = [];

/** Address plan (10.0.0.0/16): web k → 256+k, db g port j → 4096+8g+j, joiners → 8192+j, traffic VMs → 10240+. */
const webPort = (k: number): PortSpec & { host: number } => ({
  name: `web${k}`,
  mac: macOf(256 + k),
  ip: addr(256 + k),
  groups: ['web'],
  host: k % HOSTS,
});
const dbPort = (g: number, j: number): PortSpec & { host: number } => ({
  name: `db${g}p${j}`,
  mac: macOf(4096 + 8 * g + j),
  ip: addr(4096 + 8 * g + j),
  groups: [`db${g}`],
  host: j % HOSTS,
});
const ifname = (name: string) => `i-${name}`.slice(0, 15);

interface Ctx {
  side: SgSide;
  sb: Sandbox;
  mons: FlowMonitor[];
  m: Metrics;
  samples: Record<string, number[]>;
  failed: string[];
}

async function buildPolicy(c: Ctx): Promise<void> {
  const { side, sb, m } = c;
  const t0 = nowUs();
  await side.createNetwork('10.0.0.0/16', '10.0.0.1');
  if (side.hasGroups) {
    await side.createGroup('web');
    for (let g = 1; g <= GROUPS; g++) {
      await side.createGroup(`db${g}`);
      await side.addRule(`db${g}`, { direction: 'ingress', protocol: 'tcp', portMin: 5432, portMax: 5432, remoteGroup: 'web' });
    }
  } else
    log(
      `${side.label}: NO SECURITY-GROUP API (GET /v1/security-groups is 404): same ports without groups; rule/join/groups traffic skipped`,
    );
  const ports = [...Array.from({ length: WEB }, (_, k) => webPort(k))];
  for (let g = 1; g <= GROUPS; g++) for (let j = 0; j < PER_GROUP; j++) ports.push(dbPort(g, j));
  log(`${side.label}: ${side.hasGroups ? GROUPS + 1 : 0} groups, ${ports.length} ports`);
  await side.createPorts(ports);
  const tApi = nowUs();
  await Promise.all(
    sb.hosts.map((h, i) =>
      bindInternal(
        h,
        ports.filter((p) => p.host === i).map((p) => ({ name: p.name, ifname: ifname(p.name), mac: p.mac })),
      ),
    ),
  );
  const tBind = nowUs();
  await Promise.all(sb.hosts.map((h, i) => waitMarked(h, side.installedMark, ports.filter((p) => p.host === i).length)));
  const tMarked = nowUs();
  await Promise.all(c.mons.map((mon) => mon.quiet(2000, 300_000).catch(() => undefined)));
  m.set('setup_policy_api_s', Math.round((tApi - t0) / 1e5) / 10);
  m.set('setup_bind_s', Math.round((tBind - tApi) / 1e5) / 10);
  m.set('setup_all_installed_after_bind_s', Math.round((tMarked - tBind) / 1e5) / 10);
  log(
    `${side.label}: policy via API ${m.get('setup_policy_api_s')} s, bind ${m.get('setup_bind_s')} s, all ${side.installedMark} +${m.get('setup_all_installed_after_bind_s')} s`,
  );
}

async function countFlows(c: Ctx): Promise<void> {
  const totals: number[] = [];
  const acls: number[] = [];
  for (const h of c.sb.hosts) {
    const r = await execCmd(['ovs-ofctl', '-O', 'OpenFlow13', 'dump-aggregate', h.ovs.mgmtSock()]);
    totals.push(Number(/flow_count=(\d+)/.exec(r.stdout)?.[1] ?? NaN));
    acls.push(await c.side.aclFlows(h));
  }
  c.samples.flows_total_per_host = totals;
  c.samples.flows_acl_per_host = acls;
  c.m.set('flows_total_max_host', max(totals));
  c.m.set('flows_acl_max_host', max(acls));
  c.m.set(
    'flows_total_sum',
    totals.reduce((a, b) => a + b, 0),
  );
  c.m.set(
    'flows_acl_sum',
    acls.reduce((a, b) => a + b, 0),
  );
  log(`${c.side.label}: flows per host ${totals.join(' / ')}, ACL tables ${acls.join(' / ')}`);
}

/**
 * After an operation that started at t0 (µs) with the monitors at `from`: on each host in `hosts`, the first
 * flow event satisfying `pred`, then the last flow change before QUIET_MS of quiet. Max over hosts, in ms.
 */
async function toEveryHost(c: Ctx, hosts: number[], from: number[], t0: number, pred: (line: string) => boolean) {
  const per = await Promise.all(
    hosts.map(async (i) => {
      const mon = c.mons[i]!;
      const first = await mon.waitFor((e) => /event=(ADDED|MODIFIED)/.test(e.line) && pred(e.line), from[i], 60_000);
      const q = await mon.quiet(QUIET_MS, 60_000, from[i]);
      return { first: first.t, last: q.last };
    }),
  );
  return {
    first: ms(Math.max(...per.map((p) => p.first)) - t0),
    settled: ms(Math.max(...per.map((p) => p.last)) - t0),
    /** Per host "first/settled" (ms), to see whether the API's own host is quicker than the others. */
    detail: per.map((p, k) => `hv${hosts[k]! + 1} ${ms(p.first - t0)}/${ms(p.last - t0)}`).join(', '),
  };
}

async function ruleAdd(c: Ctx): Promise<void> {
  const first: number[] = [];
  const settled: number[] = [];
  const api: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < RULE_SAMPLES; i++) {
    const g = (i % GROUPS) + 1;
    const port = 6000 + i;
    const hosts = [...new Set(Array.from({ length: PER_GROUP }, (_, j) => dbPort(g, j).host))];
    const from = c.mons.map((mon) => mon.count);
    const t0 = nowUs();
    const cpu0 = await cpuMs(c.side.controlPids());
    const handle = await c.side.addRule(`db${g}`, {
      direction: 'ingress',
      protocol: 'tcp',
      portMin: port,
      portMax: port,
      remoteGroup: 'web',
    });
    api.push(ms(nowUs() - t0));
    const r = await toEveryHost(c, hosts, from, t0, (l) => l.includes(`tp_dst=${port}`) && c.side.isAclFlow(l));
    cpu.push((await cpuMs(c.side.controlPids())) - cpu0);
    first.push(r.first);
    settled.push(r.settled);
    log(
      `  rule add db${g} tcp ${port}: api ${api.at(-1)} ms, first flow on all ${hosts.length} hosts ${r.first} ms, settled ${r.settled} ms (${r.detail})`,
    );
    const fromDel = c.mons.map((mon) => mon.count);
    await c.side.deleteRule(`db${g}`, handle);
    await Promise.all(hosts.map((h) => c.mons[h]!.quiet(QUIET_MS, 60_000, fromDel[h]).catch(() => undefined)));
  }
  Object.assign(c.samples, { rule_add_api: api, rule_add_first: first, rule_add_settled: settled, rule_add_cpu: cpu });
  c.m.set('rule_add_cpu_ms_mean', Math.round(cpu.reduce((a, b) => a + b, 0) / cpu.length));
  c.m.set('rule_add_api_ms_p50', p50(api));
  c.m.set('rule_add_first_ms_p50', p50(first));
  c.m.set('rule_add_first_ms_max', max(first));
  c.m.set('rule_add_settled_ms_p50', p50(settled));
  c.m.set('rule_add_settled_ms_max', max(settled));
}

async function portJoin(c: Ctx): Promise<void> {
  const cpu: number[] = [];
  const first: number[] = [];
  const settled: number[] = [];
  const api: number[] = [];
  // Hosts that enforce a rule naming web as remote: those with a db member.
  const hosts = [...new Set(Array.from({ length: PER_GROUP }, (_, j) => dbPort(1, j).host))];
  for (let j = 0; j < JOIN_SAMPLES; j++) {
    const n = 8192 + j;
    const p = { name: `join${j}`, mac: macOf(n), ip: addr(n), groups: ['web'] };
    const h = c.sb.hosts[j % HOSTS]!;
    const from = c.mons.map((mon) => mon.count);
    const cpu0 = await cpuMs(c.side.controlPids());
    const t0 = nowUs();
    await c.side.createPorts([p]);
    api.push(ms(nowUs() - t0));
    await bindInternal(h, [{ name: p.name, ifname: ifname(p.name), mac: p.mac }]);
    const r = await toEveryHost(
      c,
      hosts,
      from,
      t0,
      (l) => new RegExp(`nw_src=${p.ip.replace(/\./g, '\\.')}[,\\s]`).test(l) && c.side.isAclFlow(l),
    );
    cpu.push((await cpuMs(c.side.controlPids())) - cpu0);
    first.push(r.first);
    settled.push(r.settled);
    log(
      `  join ${p.name} (${p.ip}) on ${h.name}: create ${api.at(-1)} ms, in ACL flows of ${hosts.length} hosts ${r.first} ms, settled ${r.settled} ms (${r.detail})`,
    );
  }
  Object.assign(c.samples, { join_api: api, join_first: first, join_settled: settled, join_cpu: cpu });
  c.m.set('join_cpu_ms_mean', Math.round(cpu.reduce((a, b) => a + b, 0) / cpu.length));
  c.m.set('join_api_ms_p50', p50(api));
  c.m.set('join_first_ms_p50', p50(first));
  c.m.set('join_first_ms_max', max(first));
  c.m.set('join_settled_ms_p50', p50(settled));
  c.m.set('join_settled_ms_max', max(settled));
}

/**
 * Two client → server pairs, clients on the first host and servers on the second: pair "none" without groups,
 * pair "groups" with the client in web and the server in srv (TRAFFIC_RULES rules). Runs alternate between the
 * pairs for ROUNDS rounds and each side's figure is the median, so that load from other jobs on the machine
 * falls on both alike.
 */
async function traffic(c: Ctx): Promise<void> {
  const { side, sb, m } = c;
  const pairs = side.hasGroups ? (['none', 'groups'] as const) : (['none'] as const);
  if (side.hasGroups) await srvGroup(side);
  const ends = pairs.map((tag, i) => ({
    tag,
    client: { name: `tc${i}`, mac: macOf(10241 + 2 * i), ip: addr(10241 + 2 * i), groups: tag === 'groups' ? ['web'] : [] },
    server: { name: `ts${i}`, mac: macOf(10242 + 2 * i), ip: addr(10242 + 2 * i), groups: tag === 'groups' ? ['srv'] : [] },
  }));
  await side.createPorts(ends.flatMap((e) => [e.client, e.server]));
  const vms = [];
  for (const e of ends) {
    const cli = await sb.addVm(sb.hosts[0]!, e.client.name, { portId: e.client.name, mac: e.client.mac, ip: `${e.client.ip}/16` });
    const srv = await sb.addVm(sb.hosts[1 % HOSTS]!, e.server.name, { portId: e.server.name, mac: e.server.mac, ip: `${e.server.ip}/16` });
    vms.push({ tag: e.tag, o: { serverNs: srv.netns, clientNs: cli.netns, serverIp: e.server.ip }, cli, srv });
  }
  await Promise.all(
    vms.flatMap((v) => [v.cli, v.srv]).map((v) => watchMark(sb.host(v.host).ovs.dbSock, v.ifname, side.installedMark, 30).done),
  );
  for (const v of vms) {
    if (!(await tcpOpen({ ...v.o, port: CONN_PORT, timeoutS: 10 })))
      throw new Error(`${side.label} ${v.tag}: client cannot reach the server on ${CONN_PORT}`);
  }
  const grouped = vms.find((v) => v.tag === 'groups');
  if (grouped) {
    // The groups must bite: a port no rule opens is closed.
    const blocked = !(await tcpOpen({ ...grouped.o, port: 5299, timeoutS: 1 }));
    m.set('policy_blocks_unlisted_port', blocked ? 1 : 0);
    if (!blocked) log(`  WARNING ${side.label}: tcp 5299 reaches the server although no rule allows it`);
  }
  const withConn = side.label !== 'ovn' || OVN_CONN;
  const gbps: Record<string, number[]> = { none: [], groups: [] };
  const conns: Record<string, number[]> = { none: [], groups: [] };
  for (let r = 1; r <= ROUNDS; r++) {
    // Every other round the other pair goes first, so a drift in machine load does not favour one of them.
    const order = r % 2 ? vms : [...vms].reverse();
    for (const v of order) {
      gbps[v.tag]!.push(await iperf({ ...v.o, seconds: IPERF_S }));
      await switchesAlive(sb, `${side.label} iperf3 ${v.tag}`);
    }
    for (const v of withConn ? order : []) {
      const res = await connRate({ ...v.o, seconds: CONN_S, parallel: CONN_PAR });
      await switchesAlive(sb, `${side.label} conn/s ${v.tag}`);
      conns[v.tag]!.push(res.perSecond);
      if (res.failed) log(`  ${v.tag}: ${res.failed} connections failed`);
    }
    log(
      `  traffic round ${r}: iperf3 Gbit/s ${vms.map((v) => `${v.tag} ${gbps[v.tag]!.at(-1)}`).join(', ')}` +
        (withConn ? `; new TCP conn/s ${vms.map((v) => `${v.tag} ${conns[v.tag]!.at(-1)}`).join(', ')}` : ''),
    );
  }
  for (const tag of pairs) {
    c.samples[`iperf_gbps_${tag}`] = gbps[tag]!;
    m.set(`iperf_gbps_${tag}`, p50(gbps[tag]!));
    if (withConn) {
      c.samples[`conn_per_s_${tag}`] = conns[tag]!;
      m.set(`conn_per_s_${tag}`, p50(conns[tag]!));
    }
  }
  if (m.has('iperf_gbps_groups')) m.set('iperf_ratio', Math.round((m.get('iperf_gbps_groups')! / m.get('iperf_gbps_none')!) * 1000) / 1000);
  if (m.has('conn_per_s_groups')) m.set('conn_ratio', Math.round((m.get('conn_per_s_groups')! / m.get('conn_per_s_none')!) * 1000) / 1000);
}

/** Group srv: TRAFFIC_RULES rules, two of which open the test ports to web. */
async function srvGroup(side: SgSide): Promise<void> {
  await side.createGroup('srv');
  await side.addRule('srv', { direction: 'ingress', protocol: 'tcp', portMin: IPERF_PORT, portMax: IPERF_PORT, remoteGroup: 'web' });
  await side.addRule('srv', { direction: 'ingress', protocol: 'tcp', portMin: CONN_PORT, portMax: CONN_PORT, remoteGroup: 'web' });
  // Decoys that match nothing of the test traffic but sit in the same tables: ports, ranges, CIDRs, groups.
  for (let i = 3; i <= TRAFFIC_RULES; i++) {
    if (i % 2)
      await side.addRule('srv', {
        direction: 'ingress',
        protocol: 'tcp',
        portMin: 20000 + i,
        portMax: 20000 + i,
        remoteCidr: `172.16.${i}.0/24`,
      });
    else
      await side.addRule('srv', {
        direction: 'ingress',
        protocol: 'udp',
        portMin: 30000 + 10 * i,
        portMax: 30005 + 10 * i,
        remoteGroup: `db${(i % GROUPS) + 1}`,
      });
  }
}

/** Fails when a host's ovs-vswitchd died (with the log's EMER line, e.g. a conntrack assertion). */
async function switchesAlive(sb: Sandbox, after: string): Promise<void> {
  for (const h of sb.hosts) {
    if ((await h.ovs.pids()).vswitchd !== undefined) continue;
    const tail = await readFile(join(h.ovs.runDir, 'vswitchd.log'), 'utf8').catch(() => '');
    const emer =
      tail
        .split('\n')
        .filter((l) => l.includes('|EMER|'))
        .at(-1) ?? '(no EMER line in vswitchd.log)';
    throw new Error(`ovs-vswitchd on ${h.name} died during ${after}: ${emer}`);
  }
}

async function runSide(side: SgSide): Promise<{ m: Metrics; samples: Record<string, number[]>; note: string }> {
  const m: Metrics = new Map();
  const samples: Record<string, number[]> = {};
  const tStart = nowUs();
  const sb = await Sandbox.up({ hosts: HOSTS, encap: 'geneve' });
  const mons: FlowMonitor[] = [];
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: cleaning up`);
    for (const mon of mons) mon.stop();
    void sb
      .down()
      .catch(() => undefined)
      .then(() => side.teardown())
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log(`${side.label}: sandbox ${sb.prefix}, ${HOSTS} hosts`);
    await side.setup(sb);
    for (const h of sb.hosts) mons.push(monitor(h));
    await Promise.all(mons.map((mon) => mon.whenReady()));
    const c: Ctx = { side, sb, mons, m, samples, failed: FAILED };
    await buildPolicy(c);
    await countFlows(c);
    // OVS pauses a flow monitor that falls behind (events are then lost); the setup's bulk may do that, harmlessly.
    const pausedAtSetup = mons.map((mon) => mon.paused);
    const timed = side.hasGroups && side.enforces;
    if (side.hasGroups && !side.enforces)
      log(`${side.label}: NO ACL TABLES in the pipeline: rule-add and port-join not timed, groups not enforced`);
    // A phase that fails is reported and the next one still runs: the figures already taken are kept.
    if (RULE_SAMPLES > 0 && timed) await phase(c, 'rule add', () => ruleAdd(c));
    if (JOIN_SAMPLES > 0 && timed) await phase(c, 'port join', () => portJoin(c));
    if (TRAFFIC) await phase(c, 'traffic', () => traffic(c));
    const pausedLater = mons.map((mon, i) => mon.paused - pausedAtSetup[i]!);
    if (pausedLater.some((p) => p > 0))
      log(`  note: a flow monitor paused while measuring (${pausedLater.join('/')}): settled times may be early`);
    m.set('total_s', Math.round((nowUs() - tStart) / 1e5) / 10);
    return { m, samples, note: side.aclTablesNote() };
  } catch (err) {
    if (env.HOLD_ON_FAIL) {
      log(`${side.label} failed (${(err as Error).message}); holding sandbox ${sb.prefix} (${sb.runDir}) for ${env.HOLD_ON_FAIL} s`);
      await sleep(Number(env.HOLD_ON_FAIL) * 1000);
    }
    throw err;
  } finally {
    for (const mon of mons) mon.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await sb.down().catch((err) => log('sandbox teardown:', (err as Error).message));
    await side.teardown().catch((err) => log(`${side.label} teardown:`, (err as Error).message));
  }
}

async function phase(c: Ctx, name: string, f: () => Promise<void>): Promise<void> {
  try {
    await f();
  } catch (err) {
    log(`${c.side.label}: ${name} FAILED: ${(err as Error).message}`);
    c.failed.push(`${c.side.label} ${name}: ${(err as Error).message}`);
  }
}

function monitor(h: SandboxHost): FlowMonitor {
  return new FlowMonitor(h.ovs.mgmtSock(), { ...process.env, OVS_RUNDIR: h.ovs.runDir });
}

// ---------------------------------------------------------------- report
const ROWS: [label: string, key: string, unit: string, better: 'lower' | 'higher'][] = [
  ['flows on br-int, busiest host', 'flows_total_max_host', 'flows', 'lower'],
  ['flows on br-int, all hosts', 'flows_total_sum', 'flows', 'lower'],
  ['ACL-table flows, busiest host', 'flows_acl_max_host', 'flows', 'lower'],
  ['ACL-table flows, all hosts', 'flows_acl_sum', 'flows', 'lower'],
  ['rule add: API/nbctl call p50', 'rule_add_api_ms_p50', 'ms', 'lower'],
  ['rule add → first flow on every host p50', 'rule_add_first_ms_p50', 'ms', 'lower'],
  ['rule add → first flow on every host max', 'rule_add_first_ms_max', 'ms', 'lower'],
  ['rule add → settled on every host p50', 'rule_add_settled_ms_p50', 'ms', 'lower'],
  ['rule add → settled on every host max', 'rule_add_settled_ms_max', 'ms', 'lower'],
  ['rule add: control-plane CPU per rule (mean)', 'rule_add_cpu_ms_mean', 'ms', 'lower'],
  ['port join: create call p50', 'join_api_ms_p50', 'ms', 'lower'],
  ['port join → in ACL flows on every host p50', 'join_first_ms_p50', 'ms', 'lower'],
  ['port join → in ACL flows on every host max', 'join_first_ms_max', 'ms', 'lower'],
  ['port join → settled on every host p50', 'join_settled_ms_p50', 'ms', 'lower'],
  ['port join → settled on every host max', 'join_settled_ms_max', 'ms', 'lower'],
  ['port join: control-plane CPU per join (mean)', 'join_cpu_ms_mean', 'ms', 'lower'],
  ['iperf3, no groups', 'iperf_gbps_none', 'Gbit/s', 'higher'],
  [`iperf3, ${TRAFFIC_RULES} rules`, 'iperf_gbps_groups', 'Gbit/s', 'higher'],
  ['iperf3 ratio (rules / none; target ≥ 0.9)', 'iperf_ratio', '', 'higher'],
  ['new TCP conn/s, no groups', 'conn_per_s_none', '/s', 'higher'],
  ['new TCP conn/s, groups', 'conn_per_s_groups', '/s', 'higher'],
  ['conn/s ratio (groups / none; target ≥ 0.8)', 'conn_ratio', '', 'higher'],
  ['unlisted port blocked (1 = yes)', 'policy_blocks_unlisted_port', '', 'higher'],
  ['setup: policy through the API/nbctl', 'setup_policy_api_s', 's', 'lower'],
  ['setup: all ports installed after bind', 'setup_all_installed_after_bind_s', 's', 'lower'],
];

const fmt = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '—' : String(v));

function report(res: Partial<Record<'ovn' | 'wyvern', Metrics>>): void {
  const w = res.wyvern;
  const o = res.ovn;
  console.log('| metric | wyvern | OVN | wyvern / OVN | unit |');
  console.log('|---|---|---|---|---|');
  for (const [label, key, unit] of ROWS) {
    const a = w?.get(key);
    const b = o?.get(key);
    const ratio = a !== undefined && b !== undefined && b !== 0 ? String(Math.round((a / b) * 100) / 100) : '—';
    console.log(`| ${label} | ${fmt(a)} | ${fmt(b)} | ${ratio} | ${unit} |`);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:sg needs root (network namespaces, OVS)');
  await ensureOvnPackages(log);
  const res: Partial<Record<'ovn' | 'wyvern', Metrics>> = {};
  const notes: string[] = [];
  for (const s of SIDES) {
    const side: SgSide = s === 'ovn' ? new OvnSg() : new WyvernSg(env.LOG_LEVEL ?? 'warn');
    log(`==== ${s}`);
    try {
      const r = await runSide(side);
      res[s] = r.m;
      notes.push(r.note);
      for (const [k, v] of Object.entries(r.samples)) console.log(`# [${s}] ${k} samples: ${v.join(' ')}`);
      for (const [k, v] of r.m) console.log(`${s}_${k} ${v}`);
    } catch (err) {
      log(`${s} failed:`, err);
      process.exitCode = 1;
    }
  }
  console.log(
    `\n# bench:sg ${new Date().toISOString()}: HOSTS=${HOSTS} WEB=${WEB} GROUPS=${GROUPS} PER_GROUP=${PER_GROUP} ` +
      `RULE_SAMPLES=${RULE_SAMPLES} JOIN_SAMPLES=${JOIN_SAMPLES} TRAFFIC_RULES=${TRAFFIC_RULES}; geneve, userspace datapath`,
  );
  for (const n of notes) console.log(`# ACL tables — ${n}`);
  for (const f of FAILED) console.log(`# FAILED: ${f}`);
  if (FAILED.length) process.exitCode = 1;
  report(res);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
