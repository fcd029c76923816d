/**
 * npm run bench:nat — wyvern's north–south (issue 14) beside OVN's, in the same run, on the same kind of sandbox.
 *
 * Each side (OVN first, then wyvern; one after the other, never together on the 2 vCPUs) gets a fresh Sandbox of
 * 3 hosts with a physical network (br-pn, a mapped br-ex per host, an outside host at 203.0.113.1) and builds the
 * topology of bench/lib/nat-side.ts with its own tools: router r1 with its gateway on the provider network
 * (candidates hv1 then hv3), SNAT of 10.0.0.0/24, a distributed floating IP 203.0.113.50 → vm-fip on hv2.
 * Measured:
 *   1. FIP first packet: outside → FIP, `ping -c1` after flushing the outside host's ARP cache and the datapath
 *      flows of every host (so the packet takes ARP, the upcall and a new conntrack entry); FIRST_SAMPLES samples;
 *   2. FIP steady RTT: p50 of `ping -c STEADY -i 0.01` outside → FIP; and SNAT's, vm-snat → outside;
 *   3. SNAT failover: `ping -i 0.1` vm-snat → outside; the active gateway chassis's control plane is SIGKILLed and
 *      its OVS stopped; outage = the longest gap between replies. Reported with wyvern's lease TTL; OVN's relies
 *      on BFD between chassis (over the userspace datapath's tunnels).
 * Environment: FIRST_SAMPLES(10) STEADY(100) FAILOVER(1) SIDES(ovn,wyvern) WYVERN_LEASE_TTL(10: the agents' lease TTL)
 *   LOG_LEVEL(warn) HOLD_ON_FAIL(seconds).
 */
import { spawn } from 'node:child_process';
import { Sandbox, type SandboxHost } from '../src/sandbox/index.js';
import { execCmd } from '../src/sandbox/run.js';
import { EXT, FIP_VM, SNAT_VM, type NatSide } from './lib/nat-side.js';
import { ensureOvnPackages } from './lib/ovn-central.js';
import { OvnNat } from './lib/ovn-nat.js';
import { max, p50, sleep } from './lib/stats.js';
import { pingUntil } from './lib/vmnet.js';
import { WyvernNat } from './lib/wyvern-nat.js';

const env = process.env;
const FIRST_SAMPLES = Number(env.FIRST_SAMPLES ?? 10);
const STEADY = Number(env.STEADY ?? 100);
const FAILOVER = env.FAILOVER !== '0';
const SIDES = (env.SIDES ?? 'ovn,wyvern').split(',') as ('ovn' | 'wyvern')[];
/** The agents' chassis lease TTL (wyvern's default), printed beside the failover outage. */
const LEASE_TTL_S = Number(env.WYVERN_LEASE_TTL ?? 10);

type Metrics = Map<string, number>;
const log = (...a: unknown[]) => console.log(`# ${new Date().toISOString().slice(11, 23)} `, ...a);

/** RTTs (ms) of each reply in ping's output. */
function rtts(out: string): number[] {
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

async function inNs(netns: string, cmd: string[], timeoutMs = 60_000) {
  return execCmd(['ip', 'netns', 'exec', netns, ...cmd], { timeoutMs });
}

async function fipFirstPacket(sb: Sandbox, m: Metrics): Promise<void> {
  const out = sb.physnet!.outsideNetns;
  const samples: number[] = [];
  for (let i = 0; i < FIRST_SAMPLES; i++) {
    await inNs(out, ['ip', 'neigh', 'flush', 'all']);
    for (const h of sb.hosts) await h.ovs.appctl(['dpctl/del-flows']).catch(() => undefined);
    const r = await inNs(out, ['ping', '-n', '-c', '1', '-W', '3', EXT.fip]);
    const t = rtts(r.stdout)[0];
    if (t === undefined) throw new Error(`outside → FIP: no reply to the first packet (sample ${i})`);
    samples.push(t);
    await sleep(200);
  }
  log(`  FIP first packet (ms): ${samples.join(' ')}`);
  m.set('fip_first_p50_ms', p50(samples));
  m.set('fip_first_max_ms', max(samples));
}

async function steady(netns: string, dst: string): Promise<number> {
  const r = await inNs(netns, ['ping', '-n', '-q', '-c', '5', '-i', '0.05', dst]); // warm: ARP, datapath flows
  if (!/ 0% packet loss/.test(r.stdout)) throw new Error(`${netns} → ${dst}: warm-up lost packets: ${r.stdout.trim()}`);
  const s = await inNs(netns, ['ping', '-n', '-c', String(STEADY), '-i', '0.01', dst]);
  const t = rtts(s.stdout);
  if (t.length < STEADY * 0.95) throw new Error(`${netns} → ${dst}: ${STEADY - t.length} of ${STEADY} lost`);
  return p50(t);
}

/** ping -D -i 0.1 from the SNAT VM while the active gateway dies; the longest gap between replies (ms). */
async function failover(side: NatSide, sb: Sandbox, m: Metrics): Promise<void> {
  const vm = sb.vm(SNAT_VM.name);
  const active = await side.activeGateway();
  if (!active) throw new Error('no active gateway chassis before failover');
  const host = sb.host(active);
  const pid = side.controlPid(host);
  if (!pid) throw new Error(`no control-plane process on ${active}`);
  const replies: number[] = [];
  const child = spawn('ip', ['netns', 'exec', vm.netns, 'ping', '-D', '-n', '-i', '0.1', '-W', '1', EXT.gateway], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let pending = '';
  child.stdout.on('data', (b: Buffer) => {
    const lines = (pending + b.toString()).split('\n');
    pending = lines.pop()!;
    for (const l of lines) {
      const x = /^\[(\d+\.\d+)\] \d+ bytes from/.exec(l);
      if (x) replies.push(Number(x[1]) * 1000);
    }
  });
  try {
    await sleep(2000);
    if (replies.length < 10) throw new Error(`SNAT pinger: only ${replies.length} replies before the failover`);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    await sb.hostStop(host);
    log(`  killed ${side.label}'s control plane on ${active} (pid ${pid}) and stopped its OVS`);
    const deadline = killedAt + 60_000;
    while (Date.now() < deadline && !(replies.length > 0 && replies.at(-1)! > killedAt + 1000)) await sleep(100);
    await sleep(1000);
    const after = replies.filter((t) => t > killedAt);
    if (after.length === 0) throw new Error(`no reply within 60 s after the gateway died`);
    const before = replies.filter((t) => t <= killedAt).at(-1)!;
    const gap = Math.round(after[0]! - before);
    const now = await side.activeGateway().catch(() => undefined);
    log(`  SNAT outage ${gap} ms; active gateway ${active} → ${now ?? '?'}`);
    m.set('snat_failover_ms', gap);
  } finally {
    child.kill('SIGTERM');
    await sb.hostStart(host).catch(() => undefined);
  }
}

async function runSide(side: NatSide): Promise<Metrics> {
  const m: Metrics = new Map();
  const sb = await Sandbox.up({ hosts: 3, encap: 'geneve', physnet: true });
  try {
    log(`${side.label}: sandbox ${sb.prefix}, 3 hosts, physical network ${sb.physnet!.name}`);
    await side.setup(sb);
    const [hv1, hv2, hv3] = sb.hosts as [SandboxHost, SandboxHost, SandboxHost];
    const t0 = Date.now();
    await side.build([hv1.name, hv3.name], [FIP_VM, SNAT_VM]);
    for (const vm of [FIP_VM, SNAT_VM])
      await sb.addVm(hv2, vm.name, { portId: vm.name, mac: vm.mac, ip: `${vm.ip}/24`, gateway: '10.0.0.1' });
    const vmSnat = sb.vm(SNAT_VM.name);
    if (!(await pingUntil(vmSnat.netns, EXT.gateway, 60))) throw new Error('vm-snat never reached the outside host (SNAT)');
    if (!(await pingUntil(sb.physnet!.outsideNetns, EXT.fip, 60))) throw new Error('the outside host never reached the FIP');
    m.set('setup_to_both_paths_s', Math.round((Date.now() - t0) / 100) / 10);
    log(`  both paths up after ${m.get('setup_to_both_paths_s')} s; active gateway ${await side.activeGateway()}`);
    await fipFirstPacket(sb, m);
    m.set('fip_steady_p50_ms', await steady(sb.physnet!.outsideNetns, EXT.fip));
    m.set('snat_steady_p50_ms', await steady(vmSnat.netns, EXT.gateway));
    if (FAILOVER) await failover(side, sb, m);
    return m;
  } catch (err) {
    if (env.HOLD_ON_FAIL) {
      log(`${side.label} failed (${(err as Error).message}); holding sandbox ${sb.prefix} for ${env.HOLD_ON_FAIL} s`);
      await sleep(Number(env.HOLD_ON_FAIL) * 1000);
    }
    throw err;
  } finally {
    await sb.down().catch((err) => log('sandbox teardown:', (err as Error).message));
    await side.teardown().catch((err) => log(`${side.label} teardown:`, (err as Error).message));
  }
}

const ROWS: [string, string, string][] = [
  ['setup_to_both_paths_s', 'topology built → SNAT and FIP paths both answer', 's'],
  ['fip_first_p50_ms', 'FIP first packet outside → VM, p50 (ARP + upcall + new conntrack)', 'ms'],
  ['fip_first_max_ms', 'FIP first packet outside → VM, max', 'ms'],
  ['fip_steady_p50_ms', 'FIP steady RTT outside → VM, p50', 'ms'],
  ['snat_steady_p50_ms', 'SNAT steady RTT VM → outside, p50', 'ms'],
  ['snat_failover_ms', 'SNAT failover outage (active gateway killed, OVS stopped)', 'ms'],
];

async function main(): Promise<void> {
  if (SIDES.includes('ovn')) await ensureOvnPackages(log);
  const results = new Map<string, Metrics>();
  for (const label of SIDES) {
    const side: NatSide = label === 'ovn' ? new OvnNat() : new WyvernNat(env.LOG_LEVEL ?? 'warn', LEASE_TTL_S);
    try {
      results.set(label, await runSide(side));
    } catch (err) {
      log(`${label} FAILED: ${(err as Error).stack ?? err}`);
      results.set(label, new Map());
    }
  }
  const w = results.get('wyvern') ?? new Map();
  const o = results.get('ovn') ?? new Map();
  const cell = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '—' : String(v));
  console.log('\n| metric | wyvern | OVN | wyvern / OVN | unit |\n|---|---|---|---|---|');
  for (const [k, label, unit] of ROWS) {
    const a = w.get(k);
    const b = o.get(k);
    const ratio = a !== undefined && b !== undefined && b > 0 ? String(Math.round((a / b) * 100) / 100) : '—';
    console.log(`| ${label} | ${cell(a)} | ${cell(b)} | ${ratio} | ${unit} |`);
  }
  console.log(`\nwyvern's failover: chassis lease TTL ${LEASE_TTL_S} s (target: TTL + 1 s). OVN's: BFD between chassis.`);
  if ([...results.values()].some((r) => r.size === 0)) process.exitCode = 1;
}

await main();
