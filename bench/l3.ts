/**
 * npm run bench:l3 — the distributed router on real OVS (userspace datapath), real etcd, one agent per host.
 *
 * Two hosts; a proactive router rp (netP1 10.1.0.0/24 ── netP2 10.2.0.0/24) and a reactive router rr with
 * the same subnets on other networks (netR1 ── netR2). A source VM on hv1 and a destination VM on hv2 per
 * router, so every routed packet crosses the tunnel.
 *
 *  1. First-packet latency: RTT of the first `ping -c1` to a destination the router has no flow for yet.
 *     Reactive: before each sample the destination's reactive flows are deleted on both hosts (the source's
 *     forward flow and the destination host's reply flow), so both directions pay the PACKET_IN → FLOW_MOD +
 *     PACKET_OUT round. Proactive: the same ping (its flows are always there). ARP caches are warm in both.
 *  2. Steady-state RTT: `ping -c PINGS -i 0.01` once the flows exist, per-packet RTTs.
 *  3. Reactive flow setups/s: a static route 10.2xx.0.0/16 per run via the destination VM; the source VM sends
 *     one UDP datagram to each of SETUPS distinct addresses at an offered rate (OFFERED, per second), pass
 *     after pass until each has its flow (or 45 s pass). Each distinct destination costs one reactive flow on hv1. Measured by
 *     polling `ovs-ofctl dump-aggregate table=l3_router` (first new flow → last), checked against dump-flows.
 *     Run twice: the agent's default per-port PACKET_IN limit (--packet-in-rate 100 --packet-in-burst 200)
 *     and a raised one (PIN_RATE / PIN_BURST), since one VM is the only source of PACKET_INs here.
 *
 *  4. The agent's share alone (no OVS): PACKET_IN frame → FLOW_MOD + PACKET_OUT encoded, per second.
 *
 * Environment: OFFERED (1000,3000,10000), SAMPLES (20), PINGS (200), SETUPS (2000), PIN_RATE (100000), PIN_BURST (100000),
 * SETUPS_DEFAULT (600: setups under the default limit). Prints results; asserts nothing about time.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TopologyView, type NetworkState } from '../src/view/topology-view.js';
import { l3PacketInHandler } from '../src/apps/l3/reactive.js';
import { encodeMessage, flowMod, OFPFF } from '../src/openflow/index.js';
import { buildUdpIpv4Frame, parseFrame } from '../src/packet/index.js';
import { loadPipeline } from '../src/pipeline/pipeline.js';
import { PipelineTables } from '../src/pipeline/tables.js';
import setup from '../test/global-setup.js';
import { agentOf } from '../src/sandbox/agents.js';
import { Cluster, type PortInfo } from '../test/helpers/cluster.js';

const SAMPLES = Number(process.env.SAMPLES ?? 20);
const PINGS = Number(process.env.PINGS ?? 200);
const SETUPS = Number(process.env.SETUPS ?? 2000);
const SETUPS_DEFAULT = Number(process.env.SETUPS_DEFAULT ?? 600);
const PIN_RATE = Number(process.env.PIN_RATE ?? 100_000);
const PIN_BURST = Number(process.env.PIN_BURST ?? 100_000);
/** Offered destinations/s of the setup runs (each run uses a fresh /16). */
const OFFERED = (process.env.OFFERED ?? '1000,3000,10000').split(',').map(Number);
const DEFAULT_RATE = 100;
const DEFAULT_BURST = 200;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const ms = (x: number): string => `${x.toFixed(3)} ms`;
const summary = (xs: number[]): string =>
  `p50 ${ms(pct(xs, 50))}  p90 ${ms(pct(xs, 90))}  min ${ms(Math.min(...xs))}  max ${ms(Math.max(...xs))}  (n=${xs.length})`;

/**
 * The sender run inside the source VM: one datagram per destination, paced at `rate` per second (in 2 ms
 * ticks), pass after pass until the stop file appears. Later passes only cost PACKET_INs for destinations
 * whose flow is still missing (OVS drops PACKET_INs beyond a queue of ~100 per connection).
 */
const SENDER = `
import os, socket, sys, time
base, n, rate, stop = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
a, b = map(int, base.split('.')[:2])
dsts = ['%d.%d.%d.%d' % (a, b, 1 + i // 250, 1 + i % 250) for i in range(n)]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
deadline = time.time() + 60
per_tick = max(1, int(rate * 0.002))
while not os.path.exists(stop) and time.time() < deadline:
    t = time.perf_counter()
    for i in range(0, n, per_tick):
        for d in dsts[i:i + per_tick]:
            try: s.sendto(b'x', (d, 9))
            except OSError: pass
        t += per_tick / rate
        while time.perf_counter() < t: time.sleep(0.0005)
`;

/** A synthetic network with `n` ports in one /16 subnet, for the handler-only measurement. */
function syntheticNet(id: string, key: number, n: number): NetworkState {
  const subnetId = `${id}s`;
  const hex = (x: number) => x.toString(16).padStart(2, '0');
  return {
    network: { id, name: id, tunnelKey: key, mtu: 1450 },
    subnets: new Map([
      [
        subnetId,
        {
          id: subnetId,
          name: subnetId,
          networkId: id,
          cidr: `10.${key}.0.0/16`,
          gatewayIp: `10.${key}.0.1`,
          enableDhcp: false,
          dnsServers: [],
          hostRoutes: [],
          leaseTime: 3600,
          dhcpOptions: [],
        },
      ],
    ]),
    ports: new Map(
      Array.from({ length: n }, (_, i) => {
        const port = {
          id: `${id}p${i}`,
          name: `${id}p${i}`,
          networkId: id,
          mac: `02:00:${hex(key)}:00:${hex(i >> 8)}:${hex(i & 255)}`,
          fixedIps: [{ subnetId, ip: `10.${key}.${1 + Math.floor(i / 250)}.${1 + (i % 250)}` }],
          portSecurity: true,
          allowedAddressPairs: [],
          securityGroups: [],
          portKey: key * 100_000 + i,
        };
        return [port.id, { port }];
      }),
    ),
  };
}

/**
 * The agent's share of a reactive setup, without OVS: parse the PACKET_IN's frame, resolve the route, build
 * the FLOW_MOD and the re-injecting PACKET_OUT, encode both. Destinations behind a static route whose next
 * hop is the last port of a network of `ports` ports (the route lookup scans the subnet's ports).
 */
function handlerOnly(ports: number): number {
  const tables = new PipelineTables(loadPipeline());
  const v = new TopologyView('hv1', 'vxlan');
  v.networks.set('n1', syntheticNet('n1', 1, 1));
  v.networks.set('n2', syntheticNet('n2', 2, ports));
  const last = `10.2.${1 + Math.floor((ports - 1) / 250)}.${1 + ((ports - 1) % 250)}`;
  v.routers.set('r', {
    id: 'r',
    name: 'r',
    routerKey: 7,
    mac: '02:aa:00:00:00:01',
    mode: 'reactive',
    routes: [{ cidr: '10.200.0.0/16', nexthop: last }],
    interfaces: [
      { subnetId: 'n1s', networkId: 'n1', ip: '10.1.0.1', mac: '02:aa:00:00:01:01' },
      { subnetId: 'n2s', networkId: 'n2', ip: '10.2.0.1', mac: '02:aa:00:00:02:01' },
    ],
  });
  const h = l3PacketInHandler(v, tables.forApp('l3'), { echoReplies: 0, timeExceeded: 0, unreachable: 0, reactiveFlows: 0 });
  const frames = Array.from({ length: 2000 }, (_, i) =>
    buildUdpIpv4Frame({
      srcMac: '02:00:01:00:00:00',
      dstMac: '02:aa:00:00:01:01',
      src: '10.1.1.1',
      dst: `10.200.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`,
      srcPort: 1,
      dstPort: 9,
      payload: Buffer.from('x'),
    }),
  );
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1000) {
    for (const f of frames) {
      const r = h({ opcode: 'l3_route_miss', table: 'l3_router', inPort: 5, networkKey: 1n, frame: parseFrame(f), cookie: 0n });
      // The handler answers with the packet's re-injection and hands its flow to the flow manager (a transient
      // owner), which sends it as a FLOW_MOD ADD with SEND_FLOW_REM: both encoded here, as the agent sends them.
      const flow = r?.transient?.flows[0];
      if (!r || r.messages.length !== 1 || !flow) throw new Error('handler did not route');
      encodeMessage(
        flowMod({
          command: 'add',
          tableId: flow.tableId,
          priority: flow.priority,
          cookie: flow.cookie,
          idleTimeout: flow.idleTimeout,
          hardTimeout: flow.hardTimeout,
          flags: OFPFF.SEND_FLOW_REM,
          match: flow.match,
          instructions: flow.instructions,
        }),
      );
      for (const m of r.messages) encodeMessage(m);
      n++;
    }
  }
  return n / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  console.log('== Reactive setup, agent side only (no OVS): parse + route + FLOW_MOD + PACKET_OUT encoded ==');
  for (const ports of [10, 2000]) console.log(`next hop among ${ports} ports: ${handlerOnly(ports).toFixed(0)} setups/s (one core)`);
  console.log('');
  setup(); // rebuild dist/ if src/ is newer: the agents run the built JS
  const c = await Cluster.up({ hosts: 2, agents: false });
  // Results print as they come, so a failure later still leaves the numbers measured before it.
  const log = { push: (line: string) => console.log(line) };
  try {
    const limits = ['--packet-in-rate', String(PIN_RATE), '--packet-in-burst', String(PIN_BURST)];
    await Promise.all(['hv1', 'hv2'].map((h) => c.startAgent(h, { logLevel: 'info', args: limits })));
    const api = c.api();
    const ports: Record<string, PortInfo> = {};
    const nets: Record<string, { id: string; key: number }> = {};
    for (const [n, cidr] of [
      ['netP1', '10.1.0.0/24'],
      ['netP2', '10.2.0.0/24'],
      ['netR1', '10.1.0.0/24'],
      ['netR2', '10.2.0.0/24'],
    ] as const) {
      const { id } = await c.network(n, cidr);
      const net = (await api.call('GET', `/v1/networks/${n}`)) as { tunnelKey: number };
      nets[n] = { id, key: net.tunnelKey };
    }
    for (const [r, mode, a, b] of [
      ['rp', 'proactive', 'netP1', 'netP2'],
      ['rr', 'reactive', 'netR1', 'netR2'],
    ] as const) {
      await api.call('POST', '/v1/routers', { name: r, mode });
      await api.call('POST', `/v1/routers/${r}/interfaces`, { subnet: `${a}-sub` });
      await api.call('POST', `/v1/routers/${r}/interfaces`, { subnet: `${b}-sub` });
    }
    const place = [
      ['hv1', 'srcP', 'netP1', '10.1.0.10', '10.1.0.1'],
      ['hv2', 'dstP', 'netP2', '10.2.0.10', '10.2.0.1'],
      ['hv1', 'srcR', 'netR1', '10.1.0.10', '10.1.0.1'],
      ['hv2', 'dstR', 'netR2', '10.2.0.10', '10.2.0.1'],
    ] as const;
    for (const [, vm, net, ip] of place) ports[vm] = await c.port(vm, net, ip);
    await Promise.all(place.map(([host, vm, , , gw]) => c.vm(host, vm, ports[vm]!, 24, { gateway: gw })));
    // Warm every ARP cache and wait for both paths to work before measuring.
    for (const [src, dst] of [
      ['srcP', 'dstP'],
      ['srcR', 'dstR'],
    ] as const) {
      if ((await c.pingUntil(src, ports[dst]!.ip, 10_000)) < 0) throw new Error(`${src} cannot reach ${dst}`);
    }

    const firstRtt = async (src: string, dst: string): Promise<number> => {
      const r = await c.sb.exec(src, ['ping', '-c1', '-n', '-W2', ports[dst]!.ip]);
      const m = /time=([\d.]+) ms/.exec(r.stdout);
      if (!m) throw new Error(`no reply: ${r.stdout}`);
      return Number(m[1]);
    };
    const dropReactive = async (): Promise<void> => {
      // Non-strict delete: only flows at least this specific, i.e. the reactive per-destination flows.
      for (const [host, net, ip] of [
        ['hv1', 'netR1', '10.2.0.10'],
        ['hv2', 'netR2', '10.1.0.10'],
      ] as const) {
        const h = c.sb.host(host);
        await h.ovs.ofctl([
          '--names',
          '-O',
          'OpenFlow13',
          'del-flows',
          h.ovs.mgmtSock(),
          `table=l3_router,ip,metadata=${nets[net]!.key},nw_dst=${ip}`,
        ]);
      }
    };

    const first = { proactive: [] as number[], reactive: [] as number[] };
    const status0 = await c.agentStatus('hv1');
    for (let i = 0; i < SAMPLES; i++) {
      await dropReactive();
      await sleep(20);
      first.reactive.push(await firstRtt('srcR', 'dstR'));
      first.proactive.push(await firstRtt('srcP', 'dstP'));
    }
    const status1 = await c.agentStatus('hv1');
    const setupsDuring = status1.l3.reactiveFlows - status0.l3.reactiveFlows;

    const steady = async (src: string, dst: string): Promise<number[]> => {
      const r = await c.sb.exec(src, ['ping', '-n', '-c', String(PINGS), '-i', '0.01', '-W2', ports[dst]!.ip], 60_000);
      return [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
    };
    const steadyP = await steady('srcP', 'dstP');
    const steadyR = await steady('srcR', 'dstR');

    log.push('== L3 first-packet and steady-state RTT (hv1 -> hv2 over the tunnel, routed) ==');
    log.push(`first ping, proactive router: ${summary(first.proactive)}`);
    log.push(`first ping, reactive router (both directions' flows set up by the agents): ${summary(first.reactive)}`);
    log.push(`  reactive flow setups on hv1 during those samples: ${setupsDuring} (expect ${SAMPLES})`);
    log.push(`steady ping, proactive: ${summary(steadyP)}`);
    log.push(`steady ping, reactive:  ${summary(steadyR)}`);
    log.push(`reactive first-packet cost (p50 first - p50 steady): ${ms(pct(first.reactive, 50) - pct(steadyR, 50))}`);

    // Reactive flow setups/s: static routes give an unbounded supply of distinct destinations.
    const l3Flows = async (): Promise<number> => {
      const h = c.sb.host('hv1');
      const out = await h.ovs.ofctl(['--names', '-O', 'OpenFlow13', 'dump-aggregate', h.ovs.mgmtSock(), 'table=l3_router']);
      return Number(/flow_count=(\d+)/.exec(out)?.[1] ?? NaN);
    };
    const setupRun = async (cidrBase: string, n: number, rate: number, label: string): Promise<void> => {
      await c.api().call('POST', '/v1/routers/rr/routes', { cidr: `${cidrBase}/16`, nexthop: ports.dstR!.ip });
      await sleep(300);
      const s0 = await c.agentStatus('hv1');
      const base = await l3Flows();
      const pin0 = s0.packetIn as Record<string, number>;
      const stop = join(c.sb.runDir, `l3-sender-stop-${cidrBase}`);
      const sender = c.sb.exec('srcR', ['python3', '-c', SENDER, cidrBase, String(n), String(rate), stop], 90_000);
      const t0 = performance.now();
      let tFirst = 0;
      let tLast = 0;
      let got = 0;
      const deadline = t0 + 45_000;
      while (performance.now() < deadline) {
        const k = (await l3Flows()) - base;
        const now = performance.now();
        if (k > 0 && tFirst === 0) tFirst = now;
        if (k > got) {
          got = k;
          tLast = now;
        }
        if (k >= n) break;
        await sleep(10);
      }
      const s1 = await c.agentStatus('hv1');
      const pin1 = s1.packetIn as Record<string, number>;
      await writeFile(stop, ''); // the sender polls for this file between rounds
      await sender.catch(() => undefined);
      const h = c.sb.host('hv1');
      const dump = await h.ovs.ofctl(['--names', '-O', 'OpenFlow13', 'dump-flows', h.ovs.mgmtSock(), 'table=l3_router']);
      const onSwitch = dump
        .split('\n')
        .filter((l) => /idle_timeout/.test(l) && l.includes(`nw_dst=${cidrBase.split('.').slice(0, 2).join('.')}.`)).length;
      const span = (tLast - tFirst) / 1000;
      log.push(
        `${label}, offered ${rate}/s: ${got}/${n} destinations set up in ${span.toFixed(3)} s from the first to the last` +
          ` -> ${(got > 1 && span > 0 ? (got - 1) / span : NaN).toFixed(0)} flow setups/s (${onSwitch} reactive flows on the switch;` +
          ` agent: ${(s1.l3.reactiveFlows as number) - (s0.l3.reactiveFlows as number)} setups, PACKET_INs received ${pin1.received! - pin0.received!},` +
          ` rate-limited ${pin1.rateLimited! - pin0.rateLimited!})`,
      );
    };
    log.push('');
    log.push('== Reactive flow setups/s (one source VM, distinct destinations via a static route) ==');
    for (const [i, rate] of OFFERED.entries())
      await setupRun(`10.${200 + i}.0.0`, SETUPS, rate, `--packet-in-rate ${PIN_RATE} --packet-in-burst ${PIN_BURST}`);
    // The agent's default per-port limit, on a fresh agent (same switch, flows kept across the restart).
    await c.stopAgent('hv1');
    await c.startAgent('hv1', {
      logLevel: 'info',
      args: ['--packet-in-rate', String(DEFAULT_RATE), '--packet-in-burst', String(DEFAULT_BURST)],
    });
    await c.pingUntil('srcR', ports.dstR!.ip, 10_000);
    await setupRun('10.220.0.0', SETUPS_DEFAULT, 1000, `--packet-in-rate ${DEFAULT_RATE} --packet-in-burst ${DEFAULT_BURST} (defaults)`);
  } catch (err) {
    for (const h of c.sb.hosts) {
      const a = agentOf(h);
      if (a)
        console.error(
          `--- ${h.name} agent log tail (${a.log})\n${(await readFile(a.log, 'utf8').catch(() => '')).split('\n').slice(-8).join('\n')}`,
        );
    }
    throw err;
  } finally {
    await c.down();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
