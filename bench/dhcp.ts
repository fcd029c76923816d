/**
 * npm run bench:dhcp — wyvern's distributed DHCP on real OVS, beside OVN's native DHCP and dnsmasq.
 *
 *  1. Server reply time: busybox udhcpc in a VM, tcpdump -w on the VM's eth0, each client request (DISCOVER,
 *     REQUEST) paired by xid with the server's reply (OFFER, ACK); p50/max of reply − request. The same for
 *     dnsmasq in another VM on the same host (DHCP-off subnet), and OVN from ../shared/anchors/ovn/run.sh
 *     (its dhcp_reply_ms_* lines; run as a child process before the sandbox, so the two never share the CPU).
 *     Then the switch's share alone (lib/dhcp-floor.ts): the agent stopped, bare Python and bare Node OpenFlow
 *     responders replay wyvern's reply frames over the same flows; wyvern's own share is the difference.
 *  2. Leases/s through one agent: VMS VMs on one host, each with its logical port; one Python process opens an
 *     AF_PACKET socket in every VM's namespace and drives DISCOVER → OFFER → REQUEST → ACK concurrently
 *     (WINDOW transactions in flight per VM, distinct xids); completed ACKs per second over SECONDS.
 *     Run twice: with the agent's default per-port PACKET_IN limit (--packet-in-rate 100 --packet-in-burst
 *     200: a port gets at most 50 leases/s sustained) and with the limit lifted, to show the agent's capacity.
 *
 * Prints results; asserts nothing about time. Env: VMS (100), WINDOW (4), SECONDS (5), REPLY_RUNS (20),
 * LOG_LEVEL (info), SKIP_OVN=1.
 */
import { spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import setup from '../test/global-setup.js';
import { OVN_ANCHOR } from './lib/anchor.js';
import { ensureOvnPackages } from './lib/ovn-central.js';
import { templatesFrom, withFloorResponder } from './lib/dhcp-floor.js';
import { Cluster } from '../test/helpers/cluster.js';
import { execCmd } from '../src/sandbox/run.js';

const VMS = Number(process.env.VMS ?? 100);
const WINDOW = Number(process.env.WINDOW ?? 4);
const SECONDS = Number(process.env.SECONDS ?? 5);
const REPLY_RUNS = Number(process.env.REPLY_RUNS ?? 20);
const LOG_LEVEL = process.env.LOG_LEVEL ?? 'info';
const PY = '/usr/bin/python3'; // Debian's, with python3-scapy etc.; a pyenv shim may shadow it on PATH
const KEA_MEMFILE_LEASES_PER_S = 11_700;

function p50max(xs: number[]): { p50: number; max: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: s[Math.floor((s.length - 1) / 2)] ?? NaN, max: s.at(-1) ?? NaN, n: s.length };
}
const fmt = (x: number) => x.toFixed(3);

/** Runs OVN's anchor and returns its metric lines. */
async function runOvn(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  await ensureOvnPackages((s) => process.stderr.write(`${s}\n`));
  await new Promise<void>((resolve, reject) => {
    const p = spawn('bash', [OVN_ANCHOR], {
      env: { ...process.env, DHCP_RUNS: String(REPLY_RUNS), NEW_PORTS: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (buf += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => {
      for (const l of buf.split('\n')) {
        const m = /^(\S+) ([\d.]+) (\S+)$/.exec(l);
        if (m) out[m[1]!] = Number(m[2]);
      }
      if (code === 0) resolve();
      else reject(new Error(`OVN anchor exited ${code}: ${err.split('\n').slice(-8).join('\n')}`));
    });
  });
  return out;
}

const NOOP_SCRIPT = '#!/bin/sh\nexit 0\n';

/** tcpdump -w in the VM's namespace while `runs` udhcpc leases happen; reply − request per xid, in ms. */
async function replyTimes(c: Cluster, vm: string, runs: number, script: string, pcap: string): Promise<number[]> {
  const ns = c.sb.vm(vm).netns;
  const td = spawn(
    'ip',
    ['netns', 'exec', ns, 'tcpdump', '-Z', 'root', '-U', '--immediate-mode', '-n', '-i', 'eth0', '-w', pcap, 'udp port 67 or udp port 68'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    let e = '';
    td.stderr.on('data', (d: Buffer) => {
      e += d.toString();
      if (e.includes('listening on')) resolve();
    });
    td.on('exit', (code) => reject(new Error(`tcpdump exited ${code}: ${e}`)));
  });
  try {
    for (let i = 0; i <= runs; i++) {
      const r = await c.sb.exec(vm, ['busybox', 'udhcpc', '-f', '-q', '-n', '-t', '3', '-T', '1', '-i', 'eth0', '-s', script], 10_000);
      if (r.code !== 0) throw new Error(`${vm}: udhcpc got no lease: ${r.stderr}`);
    }
  } finally {
    await new Promise((r) => setTimeout(r, 200));
    const gone = new Promise((r) => td.once('exit', r));
    td.kill('SIGINT');
    await gone;
  }
  const t = await execCmd([
    'tshark',
    '-r',
    pcap,
    '-T',
    'fields',
    '-E',
    'separator=,',
    '-e',
    'frame.time_epoch',
    '-e',
    'dhcp.id',
    '-e',
    'dhcp.option.dhcp',
  ]);
  if (t.code !== 0) throw new Error(`tshark: ${t.stderr}`);
  const pending = new Map<string, number>();
  const out: number[] = [];
  let firstXid: string | undefined;
  for (const line of t.stdout.split('\n').filter(Boolean)) {
    const [ts, xid, type] = line.split(',');
    const tt = Number(ts) * 1000;
    firstXid ??= xid;
    if (type === '1' || type === '3') pending.set(`${xid}`, tt);
    else if ((type === '2' || type === '5') && pending.has(`${xid}`)) {
      // The first lease (the warm-up) is left out, as in the OVN anchor.
      if (xid !== firstXid) out.push(tt - pending.get(`${xid}`)!);
      pending.delete(`${xid}`);
    }
  }
  return out;
}

/**
 * The lease driver: one process, an AF_PACKET socket per VM namespace (entered with setns), WINDOW DHCP
 * transactions in flight per VM. Prints one JSON line.
 */
const DRIVER_PY = String.raw`
import ctypes, json, os, selectors, socket, struct, sys, time
cfg = json.load(open(sys.argv[1]))
libc = ctypes.CDLL('libc.so.6', use_errno=True)
NEWNET = 0x40000000
home = os.open('/proc/self/ns/net', os.O_RDONLY)
def enter(fd):
    if libc.setns(fd, NEWNET) != 0:
        raise OSError(ctypes.get_errno(), 'setns')
sel = selectors.EpollSelector()
vms = []
for i, v in enumerate(cfg['vms']):
    fd = os.open('/run/netns/' + v['netns'], os.O_RDONLY)
    enter(fd); os.close(fd)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind(('eth0', 0x0800))
    try: s.setsockopt(263, 23, 1)  # PACKET_IGNORE_OUTGOING
    except OSError: pass
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.setblocking(False)
    mac = bytes.fromhex(v['mac'].replace(':', ''))
    vm = {'s': s, 'mac': mac, 'tx': {}}
    vms.append(vm)
    sel.register(s, selectors.EVENT_READ, vm)
enter(home)

def csum(h):
    x = sum(struct.unpack('!10H', h)); x = (x >> 16) + (x & 0xffff); x += x >> 16
    return ~x & 0xffff
PRL = bytes([55, 6, 1, 3, 6, 15, 26, 121])
def frame(mac, xid, typ, req=None, server=None):
    o = bytes([53, 1, typ])
    if req: o += b'\x32\x04' + req
    if server: o += b'\x36\x04' + server
    o += PRL + b'\xff'
    b = struct.pack('!BBBBIHH16s16s192s', 1, 1, 6, 0, xid, 0, 0, b'', mac, b'') + b'\x63\x82\x53\x63' + o
    b = b.ljust(300, b'\0')
    u = struct.pack('!HHHH', 68, 67, 8 + len(b), 0) + b
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(u), 0, 0, 64, 17, 0, b'\0\0\0\0', b'\xff\xff\xff\xff')
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return b'\xff' * 6 + mac + b'\x08\x00' + ip + u
def opt(p, code):
    i = 240
    while i < len(p):
        c = p[i]
        if c == 255: break
        if c == 0: i += 1; continue
        if i + 1 >= len(p): break
        l = p[i + 1]
        if c == code: return p[i + 2:i + 2 + l]
        i += 2 + l
    return None

xid_next = [1]
def start(vm, now):
    x = xid_next[0]; xid_next[0] += 1
    vm['tx'][x] = ['D', now, now]
    vm['s'].send(frame(vm['mac'], x, 1))

warm, secs = cfg['warmup'], cfg['seconds']
t0 = time.monotonic()
for vm in vms:
    for _ in range(cfg['window']): start(vm, t0)
acks = 0; naks = 0; timeouts = 0; lat = []
m0 = t0 + warm; m1 = m0 + secs
last_scan = t0
while True:
    now = time.monotonic()
    if now >= m1: break
    for key, _ in sel.select(0.05):
        vm = key.data; s = vm['s']
        while True:
            try: f = s.recv(2048)
            except BlockingIOError: break
            if len(f) < 14 + 20 + 8 + 240 or f[23] != 17: continue
            ihl = (f[14] & 15) * 4
            if f[14 + ihl + 2:14 + ihl + 4] != b'\x00\x44': continue
            p = f[14 + ihl + 8:]
            if p[0] != 2: continue
            x = struct.unpack_from('!I', p, 4)[0]
            t = vm['tx'].get(x)
            if t is None: continue
            mt = opt(p, 53)
            now = time.monotonic()
            if mt == b'\x02' and t[0] == 'D':
                t[0] = 'R'; t[2] = now
                s.send(frame(vm['mac'], x, 3, p[16:20], opt(p, 54)))
            elif mt == b'\x05' and t[0] == 'R':
                del vm['tx'][x]
                if m0 <= now < m1:
                    acks += 1; lat.append(now - t[1])
                start(vm, now)
            elif mt == b'\x06':
                naks += 1; del vm['tx'][x]; start(vm, now)
    if now - last_scan > 0.1:
        last_scan = now
        for vm in vms:
            for x, t in list(vm['tx'].items()):
                if now - t[2] > 1.0:
                    timeouts += 1; del vm['tx'][x]; start(vm, now)
lat.sort()
pc = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 3) if lat else None
print(json.dumps({'acks': acks, 'seconds': secs, 'leases_per_s': round(acks / secs), 'naks': naks, 'timeouts': timeouts,
                  'lease_ms_p50': pc(0.5), 'lease_ms_p99': pc(0.99), 'vms': len(vms), 'window': cfg['window']}))
`;

interface DriverResult {
  acks: number;
  leases_per_s: number;
  naks: number;
  timeouts: number;
  lease_ms_p50: number | null;
  lease_ms_p99: number | null;
  vms: number;
  window: number;
}

async function drive(c: Cluster, vms: string[], dir: string, seconds = SECONDS): Promise<DriverResult> {
  const cfgFile = join(dir, 'driver.json');
  const pyFile = join(dir, 'driver.py');
  await writeFile(pyFile, DRIVER_PY);
  await writeFile(
    cfgFile,
    JSON.stringify({ vms: vms.map((v) => ({ netns: c.sb.vm(v).netns, mac: c.sb.vm(v).mac })), warmup: 1, seconds, window: WINDOW }),
  );
  const r = await execCmd([PY, pyFile, cfgFile], { timeoutMs: (SECONDS + 30) * 1000 });
  if (r.code !== 0) throw new Error(`driver failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as DriverResult;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:dhcp needs root');
  setup(); // rebuild dist/ if src/ is newer: agents run from the built JS
  console.log(
    `# DHCP benchmark: ${cpus().length} cpus (${cpus()[0]?.model}), load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log(`# VMS=${VMS} WINDOW=${WINDOW} SECONDS=${SECONDS} REPLY_RUNS=${REPLY_RUNS}`);

  let ovn: Record<string, number> | undefined;
  if (process.env.SKIP_OVN !== '1') {
    console.log('# running OVN anchor (../shared/anchors/ovn/run.sh) first, alone on the CPU …');
    try {
      ovn = await runOvn();
    } catch (err) {
      console.log(`# OVN anchor failed: ${(err as Error).message}`);
    }
  }

  // Agents log at info, as deployed (the test cluster's default is debug: one log line per DHCP packet).
  const c = await Cluster.up({ hosts: 1, agents: false });
  try {
    await c.startAgent('hv1', { logLevel: LOG_LEVEL });
    const dir = c.sb.runDir;
    const noop = join(dir, 'udhcpc-noop.sh');
    await writeFile(noop, NOOP_SCRIPT);
    await chmod(noop, 0o755);
    const api = c.api();
    await api.call('POST', '/v1/networks', { name: 'bn', mtu: 1450 });
    await api.call('POST', '/v1/subnets', {
      name: 'bn-sub',
      network: 'bn',
      cidr: '10.70.0.0/16',
      gatewayIp: '10.70.0.1',
      enableDhcp: true,
      dnsServers: ['10.70.0.53'],
      leaseTime: 3600,
    });
    await api.call('POST', '/v1/networks', { name: 'dm' });
    await api.call('POST', '/v1/subnets', {
      name: 'dm-sub',
      network: 'dm',
      cidr: '10.71.0.0/24',
      gatewayIp: '10.71.0.1',
      enableDhcp: false,
    });

    // 1. reply time: wyvern
    const w = await c.port('w-cli', 'bn', '10.70.0.250');
    await c.vm('hv1', 'w-cli', w, 16, { dhcp: true });
    const wyCold = p50max(await replyTimes(c, 'w-cli', REPLY_RUNS, noop, join(dir, 'wyvern-cold.pcap')));
    // A long-running agent has its DHCP path compiled by V8; a fresh one interprets it for the first few
    // hundred packets. Warm it with 2 s of leases from the driver, then measure again.
    await drive(c, ['w-cli'], dir, 2);
    const wy = p50max(await replyTimes(c, 'w-cli', REPLY_RUNS, noop, join(dir, 'wyvern.pcap')));

    // 1b. reply time: dnsmasq in a VM on the same host
    // A DHCP server VM: port security drops DHCP server traffic from a port that has it (rogue servers), as it should.
    const srv = await c.port('dm-srv', 'dm', '10.71.0.2', { portSecurity: false });
    await c.vm('hv1', 'dm-srv', srv);
    const cli = await c.port('dm-cli', 'dm', '10.71.0.20');
    await c.vm('hv1', 'dm-cli', cli, 24, { dhcp: true });
    const dns = spawn(
      'ip',
      [
        'netns',
        'exec',
        c.sb.vm('dm-srv').netns,
        'timeout',
        '120',
        'dnsmasq',
        '--no-daemon',
        '--conf-file=/dev/null',
        '--user=root',
        '--port=0',
        '--no-ping',
        '--interface=eth0',
        '--bind-interfaces',
        '--dhcp-range=10.71.0.0,static,255.255.255.0,3600',
        `--dhcp-host=${cli.mac},10.71.0.20`,
        '--dhcp-option=option:router,10.71.0.1',
        `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`,
        `--pid-file=${join(dir, 'dnsmasq.pid')}`,
      ],
      { stdio: 'ignore' },
    );
    let dm: ReturnType<typeof p50max>;
    try {
      await new Promise((r) => setTimeout(r, 500));
      dm = p50max(await replyTimes(c, 'dm-cli', REPLY_RUNS, noop, join(dir, 'dnsmasq.pcap')));
    } finally {
      dns.kill('SIGTERM');
    }

    // 1c. The switch's share: the agent stopped (its flows stay), bare responders replay wyvern's own replies.
    const templates = await templatesFrom(join(dir, 'wyvern.pcap'));
    await c.stopAgent('hv1');
    const mgmt = c.sb.host('hv1').ovs.mgmtSock();
    const floor = async (lang: 'python' | 'node') =>
      p50max(
        await withFloorResponder(lang, mgmt, templates, dir, () =>
          replyTimes(c, 'w-cli', REPLY_RUNS, noop, join(dir, `floor-${lang}.pcap`)),
        ),
      );
    const floorPy = await floor('python');
    const floorNode = await floor('node');
    await c.startAgent('hv1', { logLevel: LOG_LEVEL });

    console.log('\n## DHCP server reply time (request -> reply on the VM eth0, tcpdump), ms');
    console.log(`wyvern agent      p50 ${fmt(wy.p50)}  max ${fmt(wy.max)}  (${wy.n} request/reply pairs; agent warmed by 2 s of leases)`);
    console.log(
      `wyvern, cold      p50 ${fmt(wyCold.p50)}  max ${fmt(wyCold.max)}  (${wyCold.n} pairs: the agent's first DHCP packets, code not yet optimized by V8)`,
    );
    console.log(`dnsmasq (VM)      p50 ${fmt(dm.p50)}  max ${fmt(dm.max)}  (${dm.n} pairs)`);
    if (ovn?.dhcp_reply_ms_p50 !== undefined)
      console.log(
        `OVN native DHCP   p50 ${fmt(ovn.dhcp_reply_ms_p50)}  max ${fmt(ovn.dhcp_reply_ms_max!)}  (anchor run.sh, same machine, just before)`,
      );
    else console.log('OVN native DHCP   not measured (SKIP_OVN=1 or the anchor failed)');
    console.log(
      `floor, python     p50 ${fmt(floorPy.p50)}  max ${fmt(floorPy.max)}  (${floorPy.n} pairs: agent stopped, a bare Python OpenFlow responder replays wyvern's replies)`,
    );
    console.log(
      `floor, node       p50 ${fmt(floorNode.p50)}  max ${fmt(floorNode.max)}  (${floorNode.n} pairs: the same in bare Node, no wyvern code)`,
    );
    console.log(
      `wyvern's own share (p50 - python floor): ${fmt(wy.p50 - floorPy.p50)} ms warm, ${fmt(wyCold.p50 - floorPy.p50)} ms cold; ` +
        `Node's floor over Python's: ${fmt(floorNode.p50 - floorPy.p50)} ms`,
    );

    // 2. leases/s: VMS VMs on hv1.
    console.log(`\n# creating ${VMS} ports and VMs on hv1 …`);
    const vms: string[] = [];
    const t0 = Date.now();
    for (let i = 0; i < VMS; i++) {
      const name = `l${i}`;
      const p = await c.port(name, 'bn', `10.70.${1 + Math.floor(i / 200)}.${10 + (i % 200)}`);
      await c.sb.addVm('hv1', name, { portId: p.name, mac: p.mac, dhcp: true });
      vms.push(name);
    }
    for (const v of vms) await c.waitInstalled(v, 30_000);
    console.log(`# ${VMS} VMs plugged and wyvern-installed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    console.log(`\n## DHCP leases/s through one agent (DISCOVER+REQUEST per lease, ${VMS} VMs, ${WINDOW} in flight per VM, ${SECONDS} s)`);
    const before = await c.agentStatus('hv1');
    const limited = await drive(c, vms, dir);
    const mid = await c.agentStatus('hv1');
    console.log(
      `default limit (--packet-in-rate 100 --packet-in-burst 200 per port): ${limited.leases_per_s} leases/s, lease p50 ${limited.lease_ms_p50} ms p99 ${limited.lease_ms_p99} ms, timeouts ${limited.timeouts}, NAKs ${limited.naks}, rate-limited PACKET_INs ${mid.packetIn.rateLimited - before.packetIn.rateLimited}`,
    );

    await c.stopAgent('hv1');
    await c.startAgent('hv1', { logLevel: LOG_LEVEL, args: ['--packet-in-rate', '1000000', '--packet-in-burst', '1000000'] });
    await new Promise((r) => setTimeout(r, 1000));
    const free = await drive(c, vms, dir);
    const end = await c.agentStatus('hv1');
    console.log(
      `limit lifted (--packet-in-rate 1e6): ${free.leases_per_s} leases/s, lease p50 ${free.lease_ms_p50} ms p99 ${free.lease_ms_p99} ms, timeouts ${free.timeouts}, NAKs ${free.naks}; agent packetIn ${JSON.stringify(end.packetIn)}, RSS ${(end.memory.rssBytes / 2 ** 20).toFixed(0)} MB`,
    );
    console.log(
      `reference: ISC Kea 4 memfile, single-threaded (published): ~${KEA_MEMFILE_LEASES_PER_S.toLocaleString('en')} leases/s; target >= 10,000/s`,
    );

    console.log('\nmetric value unit');
    console.log(`wyvern_dhcp_reply_ms_p50 ${fmt(wy.p50)} ms`);
    console.log(`wyvern_dhcp_reply_ms_max ${fmt(wy.max)} ms`);
    console.log(`wyvern_dhcp_reply_cold_ms_p50 ${fmt(wyCold.p50)} ms`);
    console.log(`dnsmasq_dhcp_reply_ms_p50 ${fmt(dm.p50)} ms`);
    console.log(`dnsmasq_dhcp_reply_ms_max ${fmt(dm.max)} ms`);
    console.log(`floor_python_dhcp_reply_ms_p50 ${fmt(floorPy.p50)} ms`);
    console.log(`floor_node_dhcp_reply_ms_p50 ${fmt(floorNode.p50)} ms`);
    if (ovn?.dhcp_reply_ms_p50 !== undefined) {
      console.log(`ovn_dhcp_reply_ms_p50 ${fmt(ovn.dhcp_reply_ms_p50)} ms`);
      console.log(`ovn_dhcp_reply_ms_max ${fmt(ovn.dhcp_reply_ms_max!)} ms`);
    }
    console.log(`wyvern_leases_per_s_default_limit ${limited.leases_per_s} leases/s`);
    console.log(`wyvern_leases_per_s ${free.leases_per_s} leases/s`);
    console.log(`wyvern_lease_ms_p50 ${free.lease_ms_p50} ms`);
  } finally {
    await c.down();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
