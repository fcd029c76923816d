/**
 * Issue 13's anti-spoofing proof on real OVS and etcd: an attacker VM sends, with scapy, a spoofed source IP,
 * ARP claiming a neighbour's address (gratuitous, sha != Ethernet source, unicast poisoning reply) and a rogue
 * DHCP OFFER and ACK; a scapy sniffer in the victim VM sees none of them, but does see the attacker's legitimate
 * UDP sent after them (Debian's python3-scapy: /usr/bin/python3, not whatever python3 is first on PATH). Ping still works, and a port with allowed address pairs uses its VIPs.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { untilPrinted } from '../helpers/listening.js';

const VIP = '10.0.0.100';
const VIP_MAC_IP = '10.0.0.101';
const VIP_MAC = '02:00:00:00:99:01';
const CONTROL_PORT = 9999;

/** What the sniffer prints once its socket is open: the sender starts then, not after a guess at scapy's start-up. */
const READY = 'SNIFFING';
/** How long the sniffer may take to open its socket (scapy's import takes seconds on a loaded machine). */
const READY_MS = 20_000;

/**
 * In the victim: every ARP and UDP packet eth0 receives within the window, one line each, until the control packet
 * (READY first, once it listens).
 */
const SNIFF = `
from scapy.all import sniff, ARP, UDP, IP, Ether
def show(p):
    if ARP in p: print('ARP', p[ARP].op, p[ARP].hwsrc, p[ARP].psrc, p[Ether].src, flush=True)
    elif UDP in p and IP in p: print('UDP', p[IP].src, p[UDP].sport, p[UDP].dport, p[Ether].src, flush=True)
sniff(iface='eth0', prn=show, store=False, timeout=12, started_callback=lambda: print('${READY}', flush=True),
      stop_filter=lambda p: UDP in p and p[UDP].dport == ${CONTROL_PORT})
`;

const sendScript = (body: string) => `
import time
from scapy.all import *
conf.verb = 0
${body}
`;

describe('port security: anti-spoofing on real OVS', () => {
  let c: Cluster;
  let attacker: PortInfo;
  let victim: PortInfo;
  let neighbour: PortInfo;
  let vip: PortInfo;

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 2 });
    await c.network('net', '10.0.0.0/24');
    attacker = await c.port('attacker', 'net', '10.0.0.11');
    victim = await c.port('victim', 'net', '10.0.0.12');
    neighbour = await c.port('neighbour', 'net', '10.0.0.13');
    const p = (await c.api().call('POST', '/v1/ports', {
      name: 'vip',
      network: 'net',
      fixedIps: [{ ip: '10.0.0.14' }],
      allowedAddressPairs: [{ ip: VIP }, { ip: VIP_MAC_IP, mac: VIP_MAC }],
    })) as { id: string; name: string; mac: string; networkId: string; fixedIps: { ip: string }[] };
    vip = { id: p.id, name: p.name, mac: p.mac, ip: p.fixedIps[0]!.ip, networkId: p.networkId };
    await c.vm('hv1', 'attacker', attacker);
    await c.vm('hv1', 'victim', victim);
    await c.vm('hv2', 'neighbour', neighbour);
    await c.vm('hv2', 'vip', vip);
  }, 120_000);

  afterAll(async () => {
    await c?.down();
  });

  /**
   * Runs the sniffer in `vm`, and `script` in `sender` once the sniffer says it listens (it fails if it does not within
   * READY_MS); the lines the sniffer printed after that.
   */
  async function capture(vm: string, sender: string, script: string): Promise<string[]> {
    const sniffer = spawn('ip', ['netns', 'exec', c.sb.vm(vm).netns, '/usr/bin/python3', '-c', SNIFF], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    sniffer.stdout.on('data', (d: Buffer) => (out += d.toString()));
    sniffer.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => sniffer.once('close', (code) => r(code)));
    try {
      await untilPrinted(sniffer, 'stdout', `${READY}\n`, READY_MS, `the sniffer in ${vm}`);
      const sent = await c.sb.exec(sender, ['/usr/bin/python3', '-c', sendScript(script)], 30_000);
      expect(sent.code, sent.stderr).toBe(0);
      expect(await exited, err).toBe(0);
    } finally {
      if (sniffer.exitCode === null && sniffer.signalCode === null) sniffer.kill('SIGKILL');
    }
    return out.split('\n').filter((l) => l.trim() !== '' && l !== READY);
  }

  it('legitimate traffic passes: ping across hosts and on one host', async () => {
    expect(await c.pingUntil('attacker', victim.ip, 5000)).toBeGreaterThanOrEqual(0);
    expect(await c.pingUntil('attacker', neighbour.ip, 5000)).toBeGreaterThanOrEqual(0);
    expect(await c.pingUntil('victim', neighbour.ip, 5000)).toBeGreaterThanOrEqual(0);
  });

  it("spoofed IPs, ARP poisoning and a rogue DHCP server never reach the victim; the victim's ARP cache keeps the neighbour", async () => {
    const A = attacker.mac;
    const V = victim.mac;
    const body = `
A, V, a, v, n = '${A}', '${V}', '${attacker.ip}', '${victim.ip}', '${neighbour.ip}'
B = 'ff:ff:ff:ff:ff:ff'
pkts = [
  Ether(src=A, dst=V)/IP(src=n, dst=v)/UDP(sport=5000, dport=9001)/b'spoofed neighbour',
  Ether(src=A, dst=V)/IP(src='8.8.8.8', dst=v)/UDP(sport=5000, dport=9002)/b'spoofed 8.8.8.8',
  Ether(src=A, dst=B)/ARP(op=1, hwsrc=A, psrc=n, hwdst='00:00:00:00:00:00', pdst=n),
  Ether(src=A, dst=V)/ARP(op=2, hwsrc='02:de:ad:be:ef:01', psrc=a, hwdst=V, pdst=v),
  Ether(src=A, dst=V)/ARP(op=2, hwsrc=A, psrc=n, hwdst=V, pdst=v),
  Ether(src=A, dst=B)/IP(src=a, dst='255.255.255.255')/UDP(sport=67, dport=68)
    /BOOTP(op=2, yiaddr=v, siaddr=a, chaddr=bytes.fromhex(V.replace(':', '')))/DHCP(options=[('message-type', 'offer'), ('server_id', a), 'end']),
  Ether(src=A, dst=V)/IP(src=a, dst=v)/UDP(sport=67, dport=68)
    /BOOTP(op=2, yiaddr=v, siaddr=a, chaddr=bytes.fromhex(V.replace(':', '')))/DHCP(options=[('message-type', 'ack'), ('server_id', a), 'end']),
]
for _ in range(3):
  for p in pkts: sendp(p, iface='eth0')
  time.sleep(0.2)
time.sleep(0.5)
sendp(Ether(src=A, dst=V)/IP(src=a, dst=v)/UDP(sport=5000, dport=${CONTROL_PORT})/b'legit', iface='eth0')
`;
    // The victim knows the neighbour's real MAC first (Linux updates an existing entry from gratuitous ARP).
    expect(await c.pingUntil('victim', neighbour.ip, 5000)).toBeGreaterThanOrEqual(0);
    const lines = await capture('victim', 'attacker', body);
    // The control packet arrived: the capture was live while the attacks were sent.
    expect(lines).toContain(`UDP ${attacker.ip} 5000 ${CONTROL_PORT} ${attacker.mac}`);
    const leaked = lines.filter(
      (l) =>
        / (9001|9002) /.test(l) || // spoofed sources
        /^UDP \S+ 67 68 /.test(l) || // rogue DHCP
        (l.startsWith('ARP ') && (l.includes(neighbour.ip) || l.includes('02:de:ad:be:ef:01'))),
    );
    expect(leaked).toEqual([]);
    const neigh = await c.sb.exec('victim', ['ip', 'neigh', 'show', neighbour.ip]);
    expect(neigh.stdout).toContain(neighbour.mac);
    expect(neigh.stdout).not.toContain(attacker.mac);
    // And traffic to the neighbour still goes to the neighbour.
    expect(await c.ping('victim', neighbour.ip)).toBe(true);
  });

  it('a spoofed source address gets no answer, the real one does (ping from an address the port does not have)', async () => {
    await c.sb.exec('attacker', ['ip', 'addr', 'add', '10.0.0.200/24', 'dev', 'eth0']);
    try {
      expect(await c.ping('attacker', neighbour.ip)).toBe(true);
      const r = await c.sb.exec('attacker', ['ping', '-c2', '-n', '-W1', '-I', '10.0.0.200', neighbour.ip]);
      expect(r.code).not.toBe(0);
    } finally {
      await c.sb.exec('attacker', ['ip', 'addr', 'del', '10.0.0.200/24', 'dev', 'eth0']);
    }
  });

  it('a port with allowed address pairs uses its VIPs: with its own MAC, and with a pair MAC', async () => {
    // VIP on the port MAC: the VM answers ARP for it itself, and pings from it.
    await c.sb.exec('vip', ['ip', 'addr', 'add', `${VIP}/24`, 'dev', 'eth0']);
    expect(await c.pingUntil('victim', VIP, 5000)).toBeGreaterThanOrEqual(0);
    const r = await c.sb.exec('vip', ['ping', '-c1', '-n', '-W1', '-I', VIP, victim.ip]);
    expect(r.code, r.stdout).toBe(0);
    // VIP with its own MAC: a VRRP-style gratuitous ARP and UDP from (VIP_MAC, VIP_MAC_IP) reach the victim;
    // the same MAC with the port's fixed IP does not.
    const body = `
M, V, vip, fixed, v = '${VIP_MAC}', '${victim.mac}', '${VIP_MAC_IP}', '${vip.ip}', '${victim.ip}'
sendp(Ether(src=M, dst='ff:ff:ff:ff:ff:ff')/ARP(op=1, hwsrc=M, psrc=vip, hwdst='00:00:00:00:00:00', pdst=vip), iface='eth0')
sendp(Ether(src=M, dst=V)/IP(src=fixed, dst=v)/UDP(sport=5000, dport=9003), iface='eth0')
sendp(Ether(src=M, dst=V)/IP(src=vip, dst=v)/UDP(sport=5000, dport=${CONTROL_PORT}), iface='eth0')
`;
    const lines = await capture('victim', 'vip', body);
    expect(lines).toContain(`ARP 1 ${VIP_MAC} ${VIP_MAC_IP} ${VIP_MAC}`);
    expect(lines).toContain(`UDP ${VIP_MAC_IP} 5000 ${CONTROL_PORT} ${VIP_MAC}`);
    expect(lines.filter((l) => / 9003 /.test(l))).toEqual([]);
  });

  it('a full recompute yields exactly the installed flows', async () => {
    for (const h of ['hv1', 'hv2']) {
      const r = (await c.api(h).call('POST', '/v1/agent/recompute')) as Record<string, unknown>;
      expect(r.incremental).toEqual({ equal: true, missing: [], extra: [], different: [] });
      expect(r.switch).toEqual({ equal: true, missing: [], extra: [], different: [] });
    }
  });
});
