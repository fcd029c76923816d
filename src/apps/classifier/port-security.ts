import type { Match } from '../../openflow/index.js';
import type { Port } from '../../model/types.js';
import { intToIp, maskOf, parseCidr } from '../../net/addr.js';
import type { AppTables, DesiredFlow } from '../../pipeline/tables.js';

const ETH_IPV4 = 0x0800;
const ETH_ARP = 0x0806;
const UDP = 17;
const DHCP_SERVER = 67;
const DHCP_CLIENT = 68;

/** Priorities of the port_security table (its bands in pipelines/default.yaml). */
const PRIO = {
  noPortSecurity: 50,
  mac: 60,
  ipDrop: 70,
  address: 100, // + prefix length: a narrower address wins where a pair's CIDR covers another address
  unconfigured: 140,
  dhcpServerDrop: 150,
};

/** An address a port may send from: value and mask (text), and its prefix length. */
interface Addr {
  value: string;
  mask?: string;
  prefix: number;
}

function addr(s: string): Addr {
  const c = parseCidr(s);
  if (!c || c.prefix === 32) return { value: c ? intToIp(c.ip) : s, prefix: 32 };
  return { value: intToIp((c.ip & maskOf(c.prefix)) >>> 0), mask: intToIp(maskOf(c.prefix)), prefix: c.prefix };
}

/**
 * The MACs a port may send from, each with the IPv4 addresses (or CIDRs) it may use: the port's MAC with its
 * fixed IPs and the pairs that carry no MAC of their own; a pair's own MAC with that pair's address only.
 */
export function allowedAddresses(p: Port): Map<string, Addr[]> {
  const byMac = new Map<string, Map<string, Addr>>();
  const add = (mac: string, ip: string) => {
    const m = mac.toLowerCase();
    const a = addr(ip);
    if (!byMac.has(m)) byMac.set(m, new Map());
    byMac.get(m)!.set(`${a.value}/${a.prefix}`, a);
  };
  byMac.set(p.mac.toLowerCase(), new Map());
  for (const f of p.fixedIps) add(p.mac, f.ip);
  for (const a of p.allowedAddressPairs) add(a.mac ?? p.mac, a.ip);
  const out = new Map<string, Addr[]>();
  for (const mac of [...byMac.keys()].sort()) {
    out.set(
      mac,
      [...byMac.get(mac)!.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v),
    );
  }
  return out;
}

/**
 * Port security (anti-spoofing) of one local port, in the port_security table:
 * - IPv4 only from an allowed (MAC, address) pair; DHCP DISCOVER/REQUEST from 0.0.0.0 (UDP 68 -> 67) too;
 * - ARP only with arp_sha = the Ethernet source (an allowed MAC) and arp_spa one of that MAC's addresses, or
 *   0.0.0.0 (an ARP probe, RFC 5227);
 * - DHCP server traffic (UDP 67 -> 68) never, whatever the addresses;
 * - any other ethertype from an allowed MAC passes, as before. IPv6 among them: wyvern gives ports no IPv6
 *   addresses, so there is nothing to check its sources against, and dropping it (as OVN does for a port with
 *   no IPv6 address) would break link-local IPv6 between VMs that work today without protecting any address
 *   wyvern hands out. When ports get IPv6 addresses, IPv6 and ND get the same treatment as IPv4 and ARP here.
 * A port without port security passes everything (its source port is all that is matched).
 */
export function portSecurityFlows(tables: AppTables, p: Port): DesiredFlow[] {
  const table = tables.table('port_security');
  const srcPort = { field: tables.reg('src_port'), value: p.portKey };
  const object = p.portKey;
  if (!p.portSecurity) return [table.flow({ priority: PRIO.noPortSecurity, match: [srcPort], goto: 'acl_egress_ct', object })];

  const flows: DesiredFlow[] = [];
  const pass = (priority: number, match: Match) =>
    flows.push(table.flow({ priority, match: [srcPort, ...match], goto: 'acl_egress_ct', object }));
  const drop = (priority: number, match: Match) => flows.push(table.flow({ priority, match: [srcPort, ...match], object }));

  const ipv4 = { field: 'eth_type', value: ETH_IPV4 } as const;
  const arp = { field: 'eth_type', value: ETH_ARP } as const;
  drop(PRIO.dhcpServerDrop, [
    ipv4,
    { field: 'ip_proto', value: UDP },
    { field: 'udp_src', value: DHCP_SERVER },
    { field: 'udp_dst', value: DHCP_CLIENT },
  ]);
  // IPv4 and ARP that no allowed address below admits.
  drop(PRIO.ipDrop, [ipv4]);
  drop(PRIO.ipDrop, [arp]);

  for (const [mac, addrs] of allowedAddresses(p)) {
    const eth = { field: 'eth_src', value: mac } as const;
    pass(PRIO.mac, [eth]);
    pass(PRIO.unconfigured, [
      eth,
      ipv4,
      { field: 'ipv4_src', value: '0.0.0.0' },
      { field: 'ip_proto', value: UDP },
      { field: 'udp_src', value: DHCP_CLIENT },
      { field: 'udp_dst', value: DHCP_SERVER },
    ]);
    pass(PRIO.unconfigured, [eth, arp, { field: 'arp_sha', value: mac }, { field: 'arp_spa', value: '0.0.0.0' }]);
    for (const a of addrs) {
      const m = a.mask ? { mask: a.mask } : {};
      pass(PRIO.address + a.prefix, [eth, ipv4, { field: 'ipv4_src', value: a.value, ...m }]);
      pass(PRIO.address + a.prefix, [eth, arp, { field: 'arp_sha', value: mac }, { field: 'arp_spa', value: a.value, ...m }]);
    }
  }
  return flows;
}
