// Live proof without OVS: real busybox udhcpc and ISC dhclient, in a network namespace, get their lease
// from handleDhcp. A stdlib-Python AF_PACKET shim (test/fixtures/dhcp/rawshim.py) in a second namespace
// relays frames between the veth and this process; ARP for the server address is answered with
// buildArpReplyFor. Needs root, iproute2, python3, busybox and dhclient: fails loudly without them.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleDhcp, type DhcpContext } from '../../src/apps/dhcp/index.js';
import { ARP_REQUEST, buildArpReplyFor, parseFrame } from '../../src/packet/index.js';
import { FIXTURES, PORT_MAC, SERVER_MAC, baseCtx } from '../fixtures/dhcp/helpers.js';

const TAG = `wyvlc${Math.random().toString(36).slice(2, 7)}`;
const SRV = `${TAG}s`;
const CLI = `${TAG}c`;
const dir = mkdtempSync(join(tmpdir(), 'wyvern-dhcp-live-'));
let shim: ChildProcess | undefined;
const log: string[] = [];
let ctx: DhcpContext = baseCtx();

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function inCli(args: string[], timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', CLI, ...args], { stdio: 'ignore' });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve(code ?? -1);
    });
  });
}
/** Parses the KEY=value lines the client scripts dump, per event, in order. */
function events(file: string): Array<Record<string, string>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('=== EVENT\n')
    .filter((b) => b.trim())
    .map((b) =>
      Object.fromEntries(
        b
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      ),
    );
}

beforeAll(async () => {
  for (const tool of ['ip', 'python3', 'busybox', 'dhclient']) sh('sh', ['-c', `command -v ${tool}`]);
  if (process.getuid?.() !== 0) throw new Error('dhcp-live-clients needs root (network namespaces)');
  sh('ip', ['netns', 'add', SRV]);
  sh('ip', ['netns', 'add', CLI]);
  sh('ip', ['link', 'add', `${TAG}a`, 'type', 'veth', 'peer', 'name', `${TAG}b`]);
  sh('ip', ['link', 'set', `${TAG}a`, 'netns', SRV]);
  sh('ip', ['link', 'set', `${TAG}b`, 'netns', CLI]);
  sh('ip', ['-n', CLI, 'link', 'set', `${TAG}b`, 'name', 'eth0']);
  sh('ip', ['-n', CLI, 'link', 'set', 'eth0', 'address', PORT_MAC, 'up']);
  sh('ip', ['-n', SRV, 'link', 'set', `${TAG}a`, 'up']);
  sh('ip', ['netns', 'exec', CLI, 'ethtool', '-K', 'eth0', 'tx', 'off']);
  shim = spawn('ip', ['netns', 'exec', SRV, 'python3', join(FIXTURES, 'rawshim.py'), `${TAG}a`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = createInterface({ input: shim.stdout! });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('raw shim did not start')), 10_000);
    rl.on('line', (line) => {
      if (line === 'ready') {
        clearTimeout(t);
        resolve();
        return;
      }
      const frame = Buffer.from(line, 'hex');
      const f = parseFrame(frame);
      if (f.arp) {
        if (f.arp.op === ARP_REQUEST && f.arp.targetIp === '10.77.0.1')
          shim!.stdin!.write(buildArpReplyFor(f, SERVER_MAC).toString('hex') + '\n');
        return;
      }
      const d = handleDhcp(f, ctx, Date.now());
      log.push(d.action === 'reply' ? `${d.kind}/${d.state}` : `drop:${d.counter}`);
      if (d.action === 'reply') shim!.stdin!.write(d.frame.toString('hex') + '\n');
    });
  });
  const script = (name: string): string => {
    const p = join(dir, `${name}.sh`);
    writeFileSync(
      p,
      `#!/bin/sh\n{ echo '=== EVENT'; echo "ARG=$1"; env; } >> ${join(dir, `${name}.events`)}\n` +
        // dhclient: configure the address so that unicast renewals can be sent
        `case "$reason" in BOUND|REBOOT) ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface";; esac\nexit 0\n`,
    );
    chmodSync(p, 0o755);
    return p;
  };
  script('udhcpc');
  script('dhclient');
}, 60_000);

afterAll(() => {
  shim?.kill('SIGKILL');
  for (const ns of [CLI, SRV]) {
    try {
      sh('ip', ['netns', 'pids', ns])
        .split('\n')
        .filter(Boolean)
        .forEach((pid) => process.kill(Number(pid), 'SIGKILL'));
    } catch {
      /* namespace may not exist */
    }
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {
      /* already gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('real DHCP clients get their lease from handleDhcp', () => {
  it('busybox udhcpc: address, mask, router, DNS, MTU, hostname, domain, classless routes', async () => {
    ctx = baseCtx({ network: { mtu: 1500, encapsulation: 'vxlan' } });
    log.length = 0;
    const code = await inCli(
      [
        'busybox',
        'udhcpc',
        '-i',
        'eth0',
        '-n',
        '-q',
        '-f',
        '-t',
        '3',
        '-T',
        '2',
        '-s',
        join(dir, 'udhcpc.sh'),
        '-O',
        'staticroutes',
        '-O',
        'mtu',
        '-O',
        'domain',
      ],
      20_000,
    );
    expect(code).toBe(0);
    const bound = events(join(dir, 'udhcpc.events')).find((e) => e.ARG === 'bound')!;
    expect(bound).toMatchObject({
      ip: '10.77.0.54',
      subnet: '255.255.255.0',
      router: '10.77.0.1',
      mtu: '1450',
      hostname: 'vm1',
      domain: 'example.org',
      serverid: '10.77.0.1',
      lease: '3600',
    });
    expect(bound.dns!.trim().split(/\s+/)).toEqual(['10.77.0.2', '8.8.8.8']);
    expect(bound.staticroutes).toBe('10.99.0.0/16 10.77.0.254 0.0.0.0/0 10.77.0.1');
    expect(log).toEqual(['OFFER/INIT', 'ACK/SELECTING']);
  }, 30_000);

  it('ISC dhclient: NAK for a stale lease (INIT-REBOOT), then a full lease, then a unicast renewal', async () => {
    ctx = baseCtx({ network: { mtu: 1500, encapsulation: 'gre' } });
    ctx.subnet = { ...ctx.subnet, leaseTime: 6 };
    log.length = 0;
    sh('ip', ['-n', CLI, 'addr', 'flush', 'dev', 'eth0']);
    const conf = join(dir, 'dhclient.conf');
    writeFileSync(
      conf,
      'option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\n' +
        'request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, host-name, interface-mtu, rfc3442-classless-static-routes;\n',
    );
    const leases = join(dir, 'dhclient.leases');
    // A remembered lease for an address that is not the port's: the client starts in INIT-REBOOT.
    writeFileSync(
      leases,
      `lease {\n  interface "eth0";\n  fixed-address 10.77.0.99;\n  option subnet-mask 255.255.255.0;\n  option dhcp-server-identifier 10.77.0.1;\n  renew 4 2037/01/01 00:00:00;\n  rebind 4 2037/01/01 00:00:00;\n  expire 4 2037/01/01 00:00:00;\n}\n`,
    );
    // -d keeps it in the foreground; it stays to renew, and is killed after the timeout.
    await inCli(
      ['dhclient', '-d', '-v', '-cf', conf, '-sf', join(dir, 'dhclient.sh'), '-lf', leases, '-pf', join(dir, 'dhclient.pid'), 'eth0'],
      14_000,
    );
    const ev = events(join(dir, 'dhclient.events'));
    const bound = ev.find((e) => e.reason === 'BOUND')!;
    expect(bound).toMatchObject({
      new_ip_address: '10.77.0.54',
      new_subnet_mask: '255.255.255.0',
      new_routers: '10.77.0.1',
      new_interface_mtu: '1458',
      new_domain_name: 'example.org',
      new_domain_name_servers: '10.77.0.2 8.8.8.8',
      new_host_name: 'vm1',
      new_broadcast_address: '10.77.0.255',
      new_dhcp_lease_time: '6',
    });
    expect(bound.new_rfc3442_classless_static_routes).toBe('16 10 99 10 77 0 254 0 10 77 0 1');
    expect(log[0]).toBe('NAK/INIT-REBOOT');
    expect(log).toContain('OFFER/INIT');
    expect(log).toContain('ACK/SELECTING');
    expect(log).toContain('ACK/RENEWING');
    expect(ev.some((e) => e.reason === 'RENEW' && e.new_ip_address === '10.77.0.54')).toBe(true);
  }, 30_000);
});
