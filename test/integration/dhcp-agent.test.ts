/**
 * Issue 6, DHCP half, on real OVS, real etcd and real agents: real clients (busybox udhcpc, ISC dhclient)
 * lease from the agent's distributed DHCP server; renewal is a unicast RENEW answered with ACK; a stale
 * address gets NAK; a DHCP-off subnet is left to a tenant's dnsmasq; a malformed flood leaves the agent
 * healthy while other VMs still get leases. One cluster (2 hosts) for the whole file.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { execCmd } from '../../src/sandbox/run.js';

const NET = 'dnet';
const CIDR = '10.61.0.0/24';
const GW = '10.61.0.1';
const MTU = 1500;
const VXLAN_OVERHEAD = 50;
const DNS = ['10.61.0.53', '10.61.0.54'];
const DOMAIN = 'wyvern.test';
const ROUTE = { destination: '192.168.50.0/24', nexthop: '10.61.0.254' };
const LEASE = 600;
const OFF_NET = 'offnet';

function requirePrereqs(): void {
  if (process.getuid?.() !== 0) throw new Error('DHCP e2e tests need root (namespaces, OVS)');
  for (const bin of ['busybox', 'dhclient', 'dnsmasq', 'tcpdump', 'tshark', 'python3', 'etcd', 'ovs-vswitchd', 'timeout']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      throw new Error(
        `DHCP e2e tests need ${bin} on PATH (Debian's /usr/bin/python3 with python3-scapy; apt-get install busybox isc-dhcp-client dnsmasq tcpdump tshark etcd-server openvswitch-switch)`,
      );
    }
  }
  execFileSync('/usr/bin/python3', ['-c', 'import scapy.all'], { stdio: 'ignore' }); // throws if python3-scapy is missing
}

/** udhcpc event script: applies the lease and prints every option we check, `|`-separated. */
const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "\${router%% *}" dev "$interface"
    echo "LEASE|$1|ip=$ip|mask=$mask|subnet=$subnet|router=$router|dns=$dns|domain=$domain|hostname=$hostname|mtu=$mtu|staticroutes=$staticroutes|serverid=$serverid|lease=$lease|broadcast=$broadcast" ;;
  nak) echo "NAK|$message" ;;
esac
exit 0
`;

function parseLine(line: string): Record<string, string> {
  return Object.fromEntries(
    line
      .split('|')
      .slice(2)
      .map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]),
  );
}

interface Pkt {
  t: number;
  src: string;
  dst: string;
  type: number;
  ciaddr: string;
  yiaddr: string;
  ethSrc: string;
}
const DISCOVER = 1,
  OFFER = 2,
  REQUEST = 3,
  ACK = 5,
  NAK = 6;

/** A tcpdump capture in a VM's namespace, written as pcap and read back with tshark. */
class Capture {
  private constructor(
    private readonly proc: ChildProcess,
    readonly file: string,
  ) {}

  static async start(netns: string, file: string): Promise<Capture> {
    await rm(file, { force: true });
    const proc = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        'tcpdump',
        '-Z',
        'root',
        '-U',
        '--immediate-mode',
        '-n',
        '-i',
        'eth0',
        '-w',
        file,
        'udp port 67 or udp port 68',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 5000);
      proc.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.on('exit', (code) => reject(new Error(`tcpdump exited ${code}: ${err}`)));
    });
    return new Capture(proc, file);
  }

  async stop(): Promise<Pkt[]> {
    await new Promise((r) => setTimeout(r, 200));
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGINT');
    await exited;
    const r = await execCmd([
      'tshark',
      '-r',
      this.file,
      '-T',
      'fields',
      '-E',
      'separator=,',
      '-e',
      'frame.time_epoch',
      '-e',
      'ip.src',
      '-e',
      'ip.dst',
      '-e',
      'dhcp.option.dhcp',
      '-e',
      'dhcp.ip.client',
      '-e',
      'dhcp.ip.your',
      '-e',
      'eth.src',
    ]);
    if (r.code !== 0) throw new Error(`tshark: ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [t, src, dst, type, ciaddr, yiaddr, ethSrc] = l.split(',');
        return { t: Number(t), src: src!, dst: dst!, type: Number(type), ciaddr: ciaddr!, yiaddr: yiaddr!, ethSrc: ethSrc! };
      });
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

describe('distributed DHCP on real OVS (2 hosts, etcd, agents)', () => {
  let c: Cluster;
  let runDir: string;
  let udhcpcScript: string;
  const ports: Record<string, PortInfo> = {};
  const bg: ChildProcess[] = [];
  const captures: Capture[] = [];

  const netns = (vm: string) => c.sb.vm(vm).netns;

  async function udhcpc(vm: string, extra: string[] = [], tries = 4): Promise<{ code: number; lines: string[]; out: string }> {
    const r = await c.sb.exec(
      vm,
      [
        'busybox',
        'udhcpc',
        '-f',
        '-q',
        '-n',
        '-t',
        String(tries),
        '-T',
        '1',
        '-O',
        'mtu',
        '-O',
        'staticroutes',
        '-O',
        'domain',
        '-i',
        'eth0',
        '-s',
        udhcpcScript,
        ...extra,
      ],
      (tries + 5) * 1000,
    );
    return {
      code: r.code,
      lines: r.stdout.split('\n').filter((l) => l.startsWith('LEASE|') || l.startsWith('NAK|')),
      out: r.stdout + r.stderr,
    };
  }

  async function dhcpStatus(host: string): Promise<{
    dhcp: { replies: Record<string, number>; drops: Record<string, number>; replayed: number };
    packetIn: Record<string, number>;
  }> {
    return (await c.agentStatus(host)) as never;
  }

  beforeAll(async () => {
    requirePrereqs();
    c = await Cluster.up({ hosts: 2 });
    runDir = c.sb.runDir;
    udhcpcScript = join(runDir, 'dhcp-e2e-udhcpc.sh');
    await writeFile(udhcpcScript, UDHCPC_SCRIPT);
    await chmod(udhcpcScript, 0o755);
    const api = c.api();
    await api.call('POST', '/v1/networks', { name: NET, mtu: MTU });
    await api.call('POST', '/v1/subnets', {
      name: `${NET}-sub`,
      network: NET,
      cidr: CIDR,
      gatewayIp: GW,
      enableDhcp: true,
      dnsServers: DNS,
      domain: DOMAIN,
      hostRoutes: [ROUTE],
      leaseTime: LEASE,
    });
    await api.call('POST', '/v1/networks', { name: OFF_NET });
    await api.call('POST', '/v1/subnets', {
      name: `${OFF_NET}-sub`,
      network: OFF_NET,
      cidr: '10.62.0.0/24',
      gatewayIp: '10.62.0.1',
      enableDhcp: false,
    });
    const plan: [string, string, string, string][] = [
      ['u1', 'hv1', NET, '10.61.0.11'], // udhcpc
      ['d1', 'hv2', NET, '10.61.0.12'], // dhclient, on the other host's agent
      ['n1', 'hv1', NET, '10.61.0.13'], // stale lease -> NAK
      ['f1', 'hv1', NET, '10.61.0.14'], // flooder
      ['o1', 'hv1', NET, '10.61.0.15'], // leases during the flood
      ['srv', 'hv2', OFF_NET, '10.62.0.2'], // tenant dnsmasq
      ['cli', 'hv1', OFF_NET, '10.62.0.20'], // client on the DHCP-off subnet
    ];
    for (const [name, host, net, ip] of plan) {
      // A tenant DHCP server is a trusted appliance: port security drops DHCP server traffic from a VM (issue 13).
      ports[name] = name === 'srv' ? await trustedPort(name, net, ip) : await c.port(name, net, ip);
      if (name === 'srv') await c.vm(host, name, ports[name]!);
      else await c.vm(host, name, ports[name]!, 24, { dhcp: true });
    }
  }, 120_000);

  async function trustedPort(name: string, network: string, ip: string): Promise<PortInfo> {
    const p = (await c.api().call('POST', '/v1/ports', { name, network, fixedIps: [{ ip }], portSecurity: false })) as {
      id: string;
      mac: string;
      networkId: string;
    };
    return { id: p.id, name, mac: p.mac, ip, networkId: p.networkId };
  }

  afterAll(async () => {
    for (const cap of captures) cap.kill();
    for (const p of bg) if (p.exitCode === null && p.pid) p.kill('SIGKILL');
    await c?.down();
  });

  it('busybox udhcpc gets address, mask, router, DNS, domain, hostname, MTU, lease and classless routes', async () => {
    const r = await udhcpc('u1');
    expect(r.code, r.out).toBe(0);
    const l = parseLine(r.lines.find((x) => x.startsWith('LEASE|bound'))!);
    expect(l).toMatchObject({
      ip: '10.61.0.11',
      mask: '24',
      subnet: '255.255.255.0',
      router: GW,
      dns: DNS.join(' '),
      domain: DOMAIN,
      hostname: 'u1',
      mtu: String(MTU - VXLAN_OVERHEAD),
      serverid: GW,
      lease: String(LEASE),
      broadcast: '10.61.0.255',
    });
    // RFC 3442: with option 121 present the default route must be in it too.
    expect(l.staticroutes!.split(' ')).toEqual(['192.168.50.0/24', ROUTE.nexthop, '0.0.0.0/0', GW]);
    expect((await c.sb.exec('u1', ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'])).stdout).toContain('10.61.0.11/24');
    const s = await dhcpStatus('hv1');
    expect(s.dhcp.replies.OFFER).toBeGreaterThanOrEqual(1);
    expect(s.dhcp.replies.ACK).toBeGreaterThanOrEqual(1);
  });

  it('a repeated exchange is answered from the memo of built replies; a router attached meanwhile is seen at once', async () => {
    const leaseOf = (r: { lines: string[] }) => parseLine(r.lines.find((x) => x.startsWith('LEASE|bound'))!);
    expect((await udhcpc('u1')).code).toBe(0);
    const before = await dhcpStatus('hv1');
    // The same client options again: the same DISCOVER and REQUEST but for xid and secs.
    const again = await udhcpc('u1');
    expect(again.code, again.out).toBe(0);
    expect(leaseOf(again)).toMatchObject({
      ip: '10.61.0.11',
      router: GW,
      dns: DNS.join(' '),
      serverid: GW,
      mtu: String(MTU - VXLAN_OVERHEAD),
    });
    const mid = await dhcpStatus('hv1');
    expect(mid.dhcp.replayed - before.dhcp.replayed).toBeGreaterThanOrEqual(2);

    // A router interface on the subnet becomes the DHCP server's MAC: the next replies must come from it.
    const api = c.api();
    await api.call('POST', '/v1/routers', { name: 'dhcp-r' });
    try {
      const r = (await api.call('POST', '/v1/routers/dhcp-r/interfaces', { subnet: `${NET}-sub` })) as { interfaces: { mac: string }[] };
      const routerMac = r.interfaces[0]!.mac.toLowerCase();
      let offerFrom = '';
      for (let i = 0; i < 20 && offerFrom !== routerMac; i++) {
        const cap = await Capture.start(netns('u1'), join(runDir, `memo-${i}.pcap`));
        captures.push(cap);
        const r2 = await udhcpc('u1');
        expect(r2.code, r2.out).toBe(0);
        offerFrom = (await cap.stop()).find((p) => p.type === OFFER)?.ethSrc ?? '';
      }
      expect(offerFrom).toBe(routerMac);
    } finally {
      await api.call('DELETE', `/v1/routers/dhcp-r/interfaces/${NET}-sub`);
      await api.call('DELETE', '/v1/routers/dhcp-r');
    }
  });

  it('renewal: udhcpc SIGUSR1 sends a unicast RENEW to the server, answered with ACK', async () => {
    const cap = await Capture.start(netns('u1'), join(runDir, 'renew.pcap'));
    captures.push(cap);
    const before = await dhcpStatus('hv1');
    const proc = spawn(
      'ip',
      ['netns', 'exec', netns('u1'), 'busybox', 'udhcpc', '-f', '-t', '4', '-T', '1', '-O', 'mtu', '-i', 'eth0', '-s', udhcpcScript],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    bg.push(proc);
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const waitFor = async (re: RegExp, ms: number) => {
      const t0 = Date.now();
      while (!re.test(out)) {
        if (Date.now() - t0 > ms) throw new Error(`udhcpc: no ${re} within ${ms} ms; output: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitFor(/LEASE\|bound/, 8000);
    proc.kill('SIGUSR1');
    await waitFor(/LEASE\|renew/, 8000);
    proc.kill('SIGTERM');
    const pkts = await cap.stop();
    const renew = pkts.find((p) => p.type === REQUEST && p.ciaddr === '10.61.0.11');
    expect(renew, JSON.stringify(pkts)).toBeDefined();
    // RENEWING: unicast from the leased address to the server identifier (RFC 2131 §4.4.5).
    expect(renew).toMatchObject({ src: '10.61.0.11', dst: GW });
    const ack = pkts.find((p) => p.t >= renew!.t && p.type === ACK);
    expect(ack).toMatchObject({ src: GW, dst: '10.61.0.11', yiaddr: '10.61.0.11' });
    const after = await dhcpStatus('hv1');
    expect(after.dhcp.replies.ACK! - before.dhcp.replies.ACK!).toBeGreaterThanOrEqual(2);

    expect(out).toMatch(/LEASE\|renew\|ip=10\.61\.0\.11\|/);
  });

  it('ISC dhclient (on the other host) gets the same set of options, 121 included', async () => {
    const dir = runDir;
    const conf = join(dir, 'dhclient-d1.conf');
    const out = join(dir, 'dhclient-d1.out');
    const script = join(dir, 'dhclient-d1.sh');
    await writeFile(
      conf,
      [
        'option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;',
        'request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, host-name, interface-mtu, rfc3442-classless-static-routes;',
        'timeout 15; retry 1; initial-interval 1;',
        '',
      ].join('\n'),
    );
    await writeFile(
      script,
      `#!/bin/sh
echo "$reason|x|ip=$new_ip_address|mask=$new_subnet_mask|router=$new_routers|dns=$new_domain_name_servers|domain=$new_domain_name|hostname=$new_host_name|mtu=$new_interface_mtu|routes=$new_rfc3442_classless_static_routes|serverid=$new_dhcp_server_identifier|lease=$new_dhcp_lease_time" >> ${out}
case "$reason" in BOUND|REBOOT|RENEW|REBIND) ip -4 addr flush dev "$interface"; ip addr add "$new_ip_address/24" dev "$interface" ;; esac
exit 0
`,
    );
    await chmod(script, 0o755);
    const pid = join(dir, 'dhclient-d1.pid');
    const r = await c.sb.exec(
      'd1',
      ['dhclient', '-1', '-v', '-cf', conf, '-sf', script, '-lf', join(dir, 'dhclient-d1.leases'), '-pf', pid, 'eth0'],
      25_000,
    );
    const daemonPid = Number((await readFile(pid, 'utf8').catch(() => '')).trim());
    if (daemonPid > 0) process.kill(daemonPid, 'SIGKILL');
    expect(r.code, r.stderr).toBe(0);
    const lines = (await readFile(out, 'utf8')).split('\n');
    const bound = lines.find((x) => x.startsWith('BOUND|'));
    expect(bound, lines.join('\n')).toBeDefined();
    const l = parseLine(bound!);
    expect(l).toMatchObject({
      ip: '10.61.0.12',
      mask: '255.255.255.0',
      router: GW,
      dns: DNS.join(' '),
      domain: DOMAIN,
      hostname: 'd1',
      mtu: String(MTU - VXLAN_OVERHEAD),
      serverid: GW,
      lease: String(LEASE),
    });
    // RFC 3442 encoding as dhclient prints it: width, significant octets, router.
    expect(l.routes).toBe('24 192 168 50 10 61 0 254 0 10 61 0 1');
    const s = await dhcpStatus('hv2');
    expect(s.dhcp.replies.ACK).toBeGreaterThanOrEqual(1);
  });

  it('a stale address (dhclient INIT-REBOOT from an old lease file) gets NAK, then the right lease', async () => {
    const dir = runDir;
    const leases = join(dir, 'dhclient-n1.leases');
    const out = join(dir, 'dhclient-n1.out');
    const script = join(dir, 'dhclient-n1.sh');
    await writeFile(
      leases,
      `lease {
  interface "eth0";
  fixed-address 10.61.0.99;
  option subnet-mask 255.255.255.0;
  option dhcp-server-identifier ${GW};
  renew 4 2037/01/01 00:00:01;
  rebind 4 2037/01/01 00:00:01;
  expire 4 2037/01/01 00:00:01;
}
`,
    );
    await writeFile(script, `#!/bin/sh\necho "$reason|x|ip=$new_ip_address" >> ${out}\nexit 0\n`);
    await chmod(script, 0o755);
    const conf = join(dir, 'dhclient-n1.conf');
    await writeFile(conf, 'timeout 15; retry 1; initial-interval 1;\n');
    const cap = await Capture.start(netns('n1'), join(dir, 'nak.pcap'));
    captures.push(cap);
    const before = await dhcpStatus('hv1');
    const pid = join(dir, 'dhclient-n1.pid');
    const r = await c.sb.exec('n1', ['dhclient', '-1', '-v', '-cf', conf, '-sf', script, '-lf', leases, '-pf', pid, 'eth0'], 25_000);
    const daemonPid = Number((await readFile(pid, 'utf8').catch(() => '')).trim());
    if (daemonPid > 0) process.kill(daemonPid, 'SIGKILL');
    const pkts = await cap.stop();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/DHCPNAK/);
    const req = pkts.find((p) => p.type === REQUEST);
    const nak = pkts.find((p) => p.type === NAK);
    expect(req, JSON.stringify(pkts)).toBeDefined();
    expect(nak, JSON.stringify(pkts)).toBeDefined();
    expect(nak!.t).toBeGreaterThanOrEqual(req!.t);
    expect(nak!.dst).toBe('255.255.255.255'); // RFC 2131 §4.1: NAK is broadcast
    const lines = await readFile(out, 'utf8');
    expect(lines).toMatch(/BOUND\|x\|ip=10\.61\.0\.13/);
    const after = await dhcpStatus('hv1');
    expect((after.dhcp.replies.NAK ?? 0) - (before.dhcp.replies.NAK ?? 0)).toBeGreaterThanOrEqual(1);
    // And a correct INIT-REBOOT (the lease just written) is ACKed without a new DISCOVER.
    const cap2 = await Capture.start(netns('n1'), join(dir, 'reboot.pcap'));
    captures.push(cap2);
    const r2 = await c.sb.exec('n1', ['dhclient', '-1', '-v', '-cf', conf, '-sf', script, '-lf', leases, '-pf', pid, 'eth0'], 25_000);
    const pid2 = Number((await readFile(pid, 'utf8').catch(() => '')).trim());
    if (pid2 > 0) process.kill(pid2, 'SIGKILL');
    const pkts2 = await cap2.stop();
    expect(r2.code, r2.stderr).toBe(0);
    expect(pkts2.filter((p) => p.type === DISCOVER)).toEqual([]);
    expect(pkts2.some((p) => p.type === ACK && p.yiaddr === '10.61.0.13')).toBe(true);
  });

  it('DHCP-off subnet: no answer from wyvern, but a tenant dnsmasq VM (other host) answers', async () => {
    const before = await Promise.all(['hv1', 'hv2'].map(dhcpStatus));
    const cap = await Capture.start(netns('cli'), join(runDir, 'off.pcap'));
    captures.push(cap);
    const r = await udhcpc('cli', [], 3);
    expect(r.code).not.toBe(0);
    const pkts = await cap.stop();
    expect(pkts.filter((p) => p.type === DISCOVER).length).toBeGreaterThanOrEqual(2);
    expect(pkts.filter((p) => p.type === OFFER)).toEqual([]);
    const after = await Promise.all(['hv1', 'hv2'].map(dhcpStatus));
    for (const [i, a] of after.entries()) expect(a.dhcp.replies).toEqual(before[i]!.dhcp.replies);

    const dns = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns('srv'),
        'timeout',
        '30',
        'dnsmasq',
        '--no-daemon',
        '--conf-file=/dev/null',
        '--user=root',
        '--port=0',
        '--no-ping',
        '--interface=eth0',
        '--bind-interfaces',
        '--dhcp-range=10.62.0.0,static,255.255.255.0,300',
        `--dhcp-host=${ports.cli!.mac},10.62.0.20`,
        '--dhcp-option=option:router,10.62.0.1',
        `--dhcp-leasefile=${join(runDir, 'dnsmasq-off.leases')}`,
        `--pid-file=${join(runDir, 'dnsmasq-off.pid')}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    bg.push(dns);
    let dlog = '';
    dns.stderr!.on('data', (d: Buffer) => (dlog += d.toString()));
    await new Promise((res) => setTimeout(res, 500));
    expect(dns.exitCode, dlog).toBeNull();
    const ok = await udhcpc('cli', [], 5);
    dns.kill('SIGTERM');
    expect(ok.code, `${ok.out}\n${dlog}`).toBe(0);
    const l = parseLine(ok.lines.find((x) => x.startsWith('LEASE|bound'))!);
    expect(l).toMatchObject({ ip: '10.62.0.20', serverid: '10.62.0.2', router: '10.62.0.1', lease: '300' });
    const end = await Promise.all(['hv1', 'hv2'].map(dhcpStatus));
    for (const [i, a] of end.entries()) expect(a.dhcp.replies).toEqual(before[i]!.dhcp.replies);
  });

  it('a malformed DHCP flood (scapy, raw socket) leaves the agent healthy and other VMs leasing', async () => {
    const before = await dhcpStatus('hv1');
    const flood = join(runDir, 'flood.py');
    await writeFile(flood, FLOOD_PY);
    const mac = ports.f1!.mac;
    const floodRun = c.sb.exec('f1', ['timeout', '20', '/usr/bin/python3', flood, mac, '4.0'], 25_000);
    // While it floods: another VM on the same host leases, twice.
    await new Promise((r) => setTimeout(r, 1500)); // scapy import + first packets
    const t0 = Date.now();
    const a = await udhcpc('o1', [], 5);
    const leaseMs = Date.now() - t0;
    const mid = await dhcpStatus('hv1'); // status answers during the flood
    const b = await udhcpc('u1', [], 5);
    const fr = await floodRun;
    expect(fr.code, fr.stderr).toBe(0);
    const sent = Number(/sent=(\d+)/.exec(fr.stdout)?.[1] ?? 0);
    console.log(`# flood: ${fr.stdout.trim()}; o1 leased in ${leaseMs} ms during it`);
    expect(a.code, a.out).toBe(0);
    expect(b.code, b.out).toBe(0);
    expect(parseLine(a.lines.find((x) => x.startsWith('LEASE|bound'))!).ip).toBe('10.61.0.15');
    expect(parseLine(b.lines.find((x) => x.startsWith('LEASE|bound'))!).ip).toBe('10.61.0.11');
    expect(mid.packetIn.received).toBeGreaterThan(before.packetIn.received!);
    const after = await dhcpStatus('hv1');
    const d = (k: string) => (after.packetIn[k] ?? 0) - (before.packetIn[k] ?? 0);
    const dd = (k: string) => (after.dhcp.drops[k] ?? 0) - (before.dhcp.drops[k] ?? 0);
    console.log(`# flood counters: packetIn ${JSON.stringify(after.packetIn)}; dhcp drops ${JSON.stringify(after.dhcp.drops)}`);
    expect(sent).toBeGreaterThan(1000);
    expect(d('rateLimited')).toBeGreaterThan(0);
    expect(d('errors')).toBe(0);
    expect(d('malformed') + dd('malformed')).toBeGreaterThan(0);
    expect(dd('not_for_us')).toBeGreaterThan(0); // the spoofed-chaddr variant
    // The flooder's own replies: a valid request still gets answered once the bucket refills.
    await new Promise((r) => setTimeout(r, 1000));
    const f = await udhcpc('f1', [], 4);
    expect(f.code, f.out).toBe(0);
    expect((await c.agentStatus('hv1')).openflow.up).toBe(true);
  }, 60_000);
});

/**
 * Malformed DHCP from the VM's own MAC (so port security passes it to the dhcp table): truncated BOOTP,
 * UDP/IP length fields that lie, garbage and overrunning options, a bad magic cookie, a spoofed chaddr,
 * and a non-Ethernet htype. Built once with scapy, sent in a tight raw-socket loop for the given seconds.
 */
const FLOOD_PY = `
import socket, sys, time, os
from scapy.all import Ether, IP, UDP, BOOTP, DHCP, raw
mac, secs = sys.argv[1], float(sys.argv[2])
rnd = os.urandom
base = Ether(src=mac, dst='ff:ff:ff:ff:ff:ff') / IP(src='0.0.0.0', dst='255.255.255.255')
chaddr = bytes.fromhex(mac.replace(':', '')) + b'\\0' * 10
good = BOOTP(op=1, chaddr=chaddr, xid=1) / DHCP(options=[('message-type', 'discover'), 'end'])
frames = [
    raw(base / UDP(sport=68, dport=67) / raw(good)[:30]),                          # truncated BOOTP
    raw(base / UDP(sport=68, dport=67, len=900) / raw(good)),                        # UDP length lies (too long)
    raw(base / UDP(sport=68, dport=67, len=12) / raw(good)),                         # UDP length lies (too short)
    raw(Ether(src=mac, dst='ff:ff:ff:ff:ff:ff') / IP(src='0.0.0.0', dst='255.255.255.255', len=40) / UDP(sport=68, dport=67) / raw(good)),
    raw(base / UDP(sport=68, dport=67) / BOOTP(op=1, chaddr=chaddr, options=b'\\x63\\x82\\x53\\x63' + bytes([53, 200, 1]))),  # option overruns
    raw(base / UDP(sport=68, dport=67) / BOOTP(op=1, chaddr=chaddr, options=b'\\x63\\x82\\x53\\x63' + rnd(120))),          # garbage options
    raw(base / UDP(sport=68, dport=67) / BOOTP(op=1, chaddr=chaddr, options=b'\\xde\\xad\\xbe\\xef' + bytes([53, 1, 1, 255]))),  # bad cookie
    raw(base / UDP(sport=68, dport=67) / BOOTP(op=1, chaddr=b'\\x02\\x99\\x99\\x99\\x99\\x99' + b'\\0' * 10) / DHCP(options=[('message-type', 'discover'), 'end'])),  # spoofed chaddr
    raw(base / UDP(sport=68, dport=67) / BOOTP(op=1, htype=6, chaddr=chaddr) / DHCP(options=[('message-type', 'discover'), 'end'])),
    raw(base / UDP(sport=68, dport=67) / BOOTP(op=1, chaddr=chaddr) / DHCP(options=[('message-type', 'request'), 'end'])),  # REQUEST without anything
]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
n = 0
end = time.time() + secs
while time.time() < end:
    for f in frames:
        try:
            s.send(f)
            n += 1
        except OSError:
            pass
print(f'sent={n} secs={secs} pps={int(n / secs)}')
`;
