/**
 * npm run bench:agent-start — a fresh host's agent start, alone and repeated: spawn → flows stable (the flow
 * monitor's last flow change before STABLE_S of quiet), the agent's own start timeline (its 'start timeline' log
 * line, src/agent/start-trace.ts, with the CPU time it had used by its first flows: the figure to compare builds by,
 * as it moves far less with the machine's minute than the wall clock does) and its idle memory IDLE_S later (RSS and
 * PSS, and the node binary's pages).
 *
 * Several commands are run in turn, round after round (ABBA…: the 2 shared vCPUs make single runs spread
 * widely), so an old build and a new one are compared in the same minute:
 *   CMDS='old=node --max-semi-space-size=1 --optimize-for-size /tmp/x-old/dist/src/cli/main.js;new=…'
 * Default: this build as the sandbox runs it (its V8 settings included).
 *
 * Environment: STORE=level (default: one store directory, nothing else runs) or etcd (one member on loopback),
 * ROUNDS (4), K VMs per fresh host (2), STABLE_S (1), IDLE_S (1: flows stable → memory read), CMDS. SMAPS=1 also prints each sample's resident memory by
 * mapping (largest first) and V8's heap spaces from the agent's /metrics.
 */
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiClient } from '../src/api/client.js';
import { agentCommandLine, agentOf, startAgent, stopAgent } from '../src/sandbox/agents.js';
import { Sandbox } from '../src/sandbox/index.js';
import { startEtcd, type EtcdCluster } from '../test/helpers/etcd.js';
import { FlowMonitor } from './lib/flowmon.js';
import { timelineOf } from './lib/start-timeline.js';
import { nodeBinaryPages, type NodePages } from './lib/node-pages.js';
import { p50, sleep } from './lib/stats.js';
import { bareNodeRssMb, flowCount, nowUs } from './lib/vmnet.js';

const env = process.env;
const STORE = env.STORE ?? 'level';
const ROUNDS = Number(env.ROUNDS ?? 4);
const K = Number(env.K ?? 2);
const STABLE_S = Number(env.STABLE_S ?? 1);
/** Seconds from flows stable to the memory reading. */
const IDLE_S = Number(env.IDLE_S ?? 1);
const log = (...a: unknown[]) => console.error(`# ${new Date().toISOString().slice(11, 23)}`, ...a);
const hex = (n: number) => n.toString(16).padStart(2, '0');

const CMDS: [string, string][] = (env.CMDS ?? `new=${agentCommandLine().join(' ')}`)
  .split(';')
  .filter((s) => s.trim())
  .map((s) => {
    const i = s.indexOf('=');
    return [s.slice(0, i).trim(), s.slice(i + 1).trim()];
  });

interface Sample {
  label: string;
  round: number;
  stableMs: number;
  firstFlowMs: number;
  flows: number;
  /** Spawn → the agent process's own clock start (exec, the runtime's own start). */
  execMs: number;
  timeline: Record<string, number>;
  /** The agent's CPU time up to its first flows on the switch (its start timeline), ms. */
  cpuMs: number;
  /** Built-ins the start compiled from source, after the boot's preload (agent-boot.cjs START_BUILTINS). */
  lateBuiltins: string[];
  rss: number;
  pss: number;
  anon: number;
  nodeBinRss: number;
  nodeBinPss: number;
  pages: NodePages;
}

/** RSS/PSS totals and those of the node binary's own mappings (MB), from /proc/PID/smaps. */
async function memory(pid: number): Promise<Pick<Sample, 'rss' | 'pss' | 'anon' | 'nodeBinRss' | 'nodeBinPss'>> {
  const exe = await readlink(`/proc/${pid}/exe`);
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8');
  let path = '';
  const t = { rss: 0, pss: 0, anon: 0, nodeBinRss: 0, nodeBinPss: 0 };
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      path = head[1] ?? '';
      continue;
    }
    const m = /^(Rss|Pss|Anonymous):\s+(\d+) kB/.exec(line);
    if (!m) continue;
    const kb = Number(m[2]);
    if (m[1] === 'Rss') {
      t.rss += kb;
      if (path === exe) t.nodeBinRss += kb;
    } else if (m[1] === 'Pss') {
      t.pss += kb;
      if (path === exe) t.nodeBinPss += kb;
    } else t.anon += kb;
  }
  const mb = (kb: number) => Math.round(kb / 102.4) / 10;
  return { rss: mb(t.rss), pss: mb(t.pss), anon: mb(t.anon), nodeBinRss: mb(t.nodeBinRss), nodeBinPss: mb(t.nodeBinPss) };
}

/** Resident kB by mapping name ([anon] for unnamed ones), largest first: where an idle agent's RSS is. */
async function residentByMapping(pid: number): Promise<[string, number][]> {
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8');
  const by = new Map<string, number>();
  let path = '';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) path = head[1] || '[anon]';
    else {
      const m = /^Rss:\s+(\d+) kB/.exec(line);
      if (m) by.set(path, (by.get(path) ?? 0) + Number(m[1]));
    }
  }
  return [...by].sort((a, b) => b[1] - a[1]);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:agent-start needs root (network namespaces, OVS)');
  let etcd: EtcdCluster | undefined;
  let sb: Sandbox | undefined;
  const samples: Sample[] = [];
  try {
    sb = await Sandbox.up({ hosts: 1, encap: 'geneve' });
    if (STORE === 'etcd') etcd = await startEtcd({});
    const store = etcd ? etcd.url : `level:${join(sb.runDir, 'store')}`;
    log(`sandbox ${sb.prefix}, store ${store}, ${ROUNDS} rounds of ${CMDS.map(([l]) => l).join(', ')}, ${K} VMs per fresh host`);
    env.WYVERN_CMD = CMDS[0]![1];
    await startAgent(sb, 'hv1', { store, lazySync: true });
    const api = new ApiClient(agentOf(sb.host('hv1'))!.api);
    await api.call('POST', '/v1/networks', { name: 'ls0', mtu: 1400 });
    await api.call('POST', '/v1/subnets', {
      name: 'ls0-sub',
      network: 'ls0',
      cidr: '10.0.0.0/24',
      gatewayIp: '10.0.0.1',
      enableDhcp: true,
    });
    const hostsNeeded = ROUNDS * CMDS.length;
    for (let h = 2; h <= hostsNeeded + 1; h++)
      for (let i = 1; i <= K; i++)
        await api.call('POST', '/v1/ports', {
          name: `vm${h}-${i}`,
          network: 'ls0',
          mac: `0a:00:00:00:${hex(h)}:${hex(i)}`,
          fixedIps: [{ ip: `10.0.0.${h * 8 + i}` }],
        });
    // A level store has one user at a time: the set-up agent goes before the fresh hosts' agents come.
    await stopAgent(sb, 'hv1');
    for (let round = 1; round <= ROUNDS; round++) {
      // ABBA: every other round runs the commands in reverse order, so that neither has the first or the second place
      // of every round (a drift of the machine within a round, or whatever the place itself brings, falls on both).
      for (const [label, cmd] of round % 2 === 1 ? CMDS : [...CMDS].reverse()) {
        const host = await sb.addHost();
        const h = host.index;
        for (let i = 1; i <= K; i++)
          await sb.addVm(host.name, `vm${h}-${i}`, {
            portId: `vm${h}-${i}`,
            mac: `0a:00:00:00:${hex(h)}:${hex(i)}`,
            ip: `10.0.0.${h * 8 + i}/24`,
          });
        const mon = new FlowMonitor(host.ovs.mgmtSock(), { ...process.env, OVS_RUNDIR: host.ovs.runDir });
        try {
          await mon.whenReady();
          await sleep(300);
          env.WYVERN_CMD = cmd;
          const t0 = nowUs();
          const info = await startAgent(sb, host.name, { store, lazySync: true });
          const q = await mon.quiet(STABLE_S * 1000, 60_000);
          const tl = await timelineOf(info.log);
          await sleep(IDLE_S * 1000);
          const mem = await memory(info.pid);
          const pages = await nodeBinaryPages(info.pid);
          const s: Sample = {
            label,
            round,
            stableMs: Math.round((q.last - t0) / 100) / 10,
            firstFlowMs: Math.round((q.first - t0) / 100) / 10,
            flows: await flowCount(host.ovs.mgmtSock()),
            execMs: tl ? Math.round((tl.timeOrigin * 1000 - t0) / 100) / 10 : NaN,
            timeline: tl?.ms ?? {},
            cpuMs: tl?.cpuMs ?? NaN,
            lateBuiltins: tl?.lateBuiltins ?? [],
            ...mem,
            pages,
          };
          samples.push(s);
          if (env.SMAPS === '1') {
            const top = (await residentByMapping(info.pid)).slice(0, 14);
            log(`resident by mapping (kB): ${top.map(([p, kb]) => `${p} ${kb}`).join('; ')}`);
            const metrics = await new ApiClient(info.api).raw('GET', '/metrics').catch(() => undefined);
            const body = typeof metrics?.body === 'string' ? metrics.body : '';
            for (const kind of ['used', 'total']) {
              const spaces = body.split('\n').filter((l) => l.startsWith(`nodejs_heap_space_size_${kind}_bytes`));
              log(
                `V8 heap spaces, ${kind} MB: ${spaces.map((l) => l.replace(/^.*space="([^"]+)".* (\d+)$/, (_m, sp: string, b: string) => `${sp} ${(Number(b) / 1048576).toFixed(2)}`)).join('; ')}`,
              );
            }
          }
          log(
            `${label} round ${round} (${host.name}): flows stable ${s.stableMs} ms (first ${s.firstFlowMs}, ${s.flows} flows); ` +
              `CPU to first flows ${s.cpuMs} ms${s.lateBuiltins.length ? ` (built-ins compiled from source: ${s.lateBuiltins.join(', ')})` : ''}; RSS ${s.rss} MB (anon ${s.anon}, node binary ${s.nodeBinRss}: text ${pages.text}, ICU ${pages.icu}, rodata ${pages.rodata}, other ${pages.other}), PSS ${s.pss} MB; exec ${s.execMs} ms; ` +
              Object.entries(s.timeline)
                .map(([k, v]) => `${k} ${v}`)
                .join(', '),
          );
        } finally {
          mon.stop();
          // Decommissioned, not just stopped: its chassis key goes now, not when its lease lapses during a later
          // round (which would change that round's flows after its start and blur its "flows stable").
          const a = agentOf(sb.host(host.name));
          if (a) await new ApiClient(a.api).raw('POST', '/v1/agent/decommission', { force: true }).catch(() => undefined);
          await stopAgent(sb, host.name).catch(() => undefined);
        }
      }
    }
    const bare = await bareNodeRssMb();
    const { spawn } = await import('node:child_process');
    const idle = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 3000)'], { stdio: 'ignore' });
    await sleep(1000);
    const barePages = await nodeBinaryPages(idle.pid!);
    idle.kill();
    log(`bare node's binary pages: ${JSON.stringify(barePages)}`);
    console.log(`\nagent start, ${STORE} store, ${K} VMs, ${ROUNDS} rounds (medians; every sample above); bare node RSS ${bare} MB`);
    console.log(
      '| cmd | flows stable ms | first flow ms | CPU to first flows ms | RSS MB | anon MB | node binary RSS MB | PSS MB | samples (stable ms) | samples (CPU ms) |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const [label] of CMDS) {
      const xs = samples.filter((s) => s.label === label);
      const med = (f: (s: Sample) => number) => p50(xs.map(f));
      console.log(
        `| ${label} | ${med((s) => s.stableMs)} | ${med((s) => s.firstFlowMs)} | ${med((s) => s.cpuMs)} | ${med((s) => s.rss)} | ${med((s) => s.anon)} | ${med((s) => s.nodeBinRss)} | ${med((s) => s.pss)} | ${xs.map((s) => s.stableMs).join(', ')} | ${xs.map((s) => s.cpuMs).join(', ')} |`,
      );
    }
  } finally {
    await sb?.down().catch((err) => log('sandbox teardown:', (err as Error).message));
    await etcd?.stop();
  }
}

await main();
