/** Value and field-name formatting shared by the ovs-ofctl-style printers. */
import { FIELDS_BY_NAME, NXM_0, NXM_1, OXM_BASIC, OXM_PACKET_REGS } from './fields.js';
import type { FieldValue } from './types.js';

/** C's "%#x": 0 prints as "0", everything else as 0x…. */
export function hex(v: number | bigint): string {
  return v === 0 || v === 0n ? '0' : `0x${v.toString(16)}`;
}

export function toBig(v: FieldValue): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  if (Buffer.isBuffer(v)) return v.length ? BigInt(`0x${v.toString('hex')}`) : 0n;
  return BigInt(v);
}

/** Fields ovs-ofctl prints in hexadecimal (MFS_HEXADECIMAL); the rest of the integers print in decimal. */
const HEX_FIELDS =
  /^(x?reg\d+|metadata|tun_id(_nxm)?|ct_mark|ct_label|pkt_mark|recirc_id|dp_hash|tun_flags|tun_gbp_id|tun_gbp_flags|xxreg\d|eth_type(_nxm)?|ipv6_flabel|ipv6_label_nxm|tcp_flags(_nxm)?)$/;

function ipv4Prefix(mask: string): number | undefined {
  const n = mask.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  for (let p = 0; p <= 32; p++) if (n === (p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0)) return p;
  return undefined;
}

function ipv6Prefix(mask: string): number | undefined {
  let bits = '';
  const groups = expand6(mask);
  for (const g of groups) bits += g.toString(2).padStart(16, '0');
  const p = bits.indexOf('0');
  if (p === -1) return 128;
  return bits.slice(p).includes('1') ? undefined : p;
}

function expand6(s: string): number[] {
  const [a, b] = s.split('::');
  const pa = a ? a.split(':').map((x) => parseInt(x, 16)) : [];
  const pb = b !== undefined && b !== '' ? b.split(':').map((x) => parseInt(x, 16)) : [];
  return s.includes('::') ? [...pa, ...new Array<number>(8 - pa.length - pb.length).fill(0), ...pb] : pa;
}

/** Formats value[/mask] the way ovs-ofctl prints the field in a match or set_field. */
export function formatValue(field: string, value: FieldValue, mask?: FieldValue): string {
  const def = FIELDS_BY_NAME.get(field);
  const kind = def?.kind;
  if (kind === 'ipv4' && typeof value === 'string') {
    if (mask === undefined || mask === '255.255.255.255') return value;
    const p = ipv4Prefix(String(mask));
    return p === undefined ? `${value}/${String(mask)}` : `${value}/${p}`;
  }
  if (kind === 'ipv6' && typeof value === 'string') {
    if (mask === undefined) return value;
    const p = ipv6Prefix(String(mask));
    return p === undefined ? `${value}/${String(mask)}` : p === 128 ? value : `${value}/${p}`;
  }
  if (kind === 'mac' || typeof value === 'string') return mask === undefined ? String(value) : `${String(value)}/${String(mask)}`;
  if (Buffer.isBuffer(value)) return `0x${value.toString('hex')}` + (mask !== undefined ? `/0x${toBig(mask).toString(16)}` : '');
  const useHex = HEX_FIELDS.test(field) || mask !== undefined;
  const fmt = (v: FieldValue): string => (useHex ? hex(toBig(v)) : toBig(v).toString());
  return mask === undefined ? fmt(value) : `${fmt(value)}/${fmt(mask)}`;
}

/** OVS's name for a field in set_field (mf->name). */
const SET_FIELD_NAMES: Record<string, string> = {
  ipv4_src: 'ip_src',
  ipv4_dst: 'ip_dst',
  icmpv4_type: 'icmp_type',
  icmpv4_code: 'icmp_code',
  ip_ecn: 'nw_ecn',
  ip_proto: 'nw_proto',
  tun_ipv4_src: 'tun_src',
  tun_ipv4_dst: 'tun_dst',
  ipv6_flabel: 'ipv6_label',
  ipv6_nd_target: 'nd_target',
  ipv6_nd_sll: 'nd_sll',
  ipv6_nd_tll: 'nd_tll',
  ip_ttl: 'nw_ttl',
};

export function setFieldName(field: string): string {
  return SET_FIELD_NAMES[field] ?? field.replace(/_nxm$/, '');
}

/** OXM basic fields whose OVS field has an NXM name (OVS prints subfields by NXM name when one exists). */
const OXM_TO_NXM: Record<string, string> = {
  eth_dst: 'NXM_OF_ETH_DST',
  eth_src: 'NXM_OF_ETH_SRC',
  eth_type: 'NXM_OF_ETH_TYPE',
  ip_proto: 'NXM_OF_IP_PROTO',
  ipv4_src: 'NXM_OF_IP_SRC',
  ipv4_dst: 'NXM_OF_IP_DST',
  tcp_src: 'NXM_OF_TCP_SRC',
  tcp_dst: 'NXM_OF_TCP_DST',
  udp_src: 'NXM_OF_UDP_SRC',
  udp_dst: 'NXM_OF_UDP_DST',
  icmpv4_type: 'NXM_OF_ICMP_TYPE',
  icmpv4_code: 'NXM_OF_ICMP_CODE',
  arp_op: 'NXM_OF_ARP_OP',
  arp_spa: 'NXM_OF_ARP_SPA',
  arp_tpa: 'NXM_OF_ARP_TPA',
  arp_sha: 'NXM_NX_ARP_SHA',
  arp_tha: 'NXM_NX_ARP_THA',
  ipv6_src: 'NXM_NX_IPV6_SRC',
  ipv6_dst: 'NXM_NX_IPV6_DST',
  ipv6_flabel: 'NXM_NX_IPV6_LABEL',
  icmpv6_type: 'NXM_NX_ICMPV6_TYPE',
  icmpv6_code: 'NXM_NX_ICMPV6_CODE',
  ipv6_nd_target: 'NXM_NX_ND_TARGET',
  ipv6_nd_sll: 'NXM_NX_ND_SLL',
  ipv6_nd_tll: 'NXM_NX_ND_TLL',
  ip_ecn: 'NXM_NX_IP_ECN',
  tun_id: 'NXM_NX_TUN_ID',
  tcp_flags: 'NXM_NX_TCP_FLAGS',
};
const NXM0_NAMES: Record<string, string> = {
  ipv4_src_nxm: 'IP_SRC',
  ipv4_dst_nxm: 'IP_DST',
  icmpv4_type_nxm: 'ICMP_TYPE',
  icmpv4_code_nxm: 'ICMP_CODE',
};

/** The NXM/OXM name ovs-ofctl uses for a field in subfield syntax (NXM_NX_REG0[0..15]). */
export function nxmName(field: string): string {
  const def = FIELDS_BY_NAME.get(field);
  if (!def) return field;
  const base = field.replace(/_nxm$/, '').toUpperCase();
  if (def.cls === NXM_0) return `NXM_OF_${NXM0_NAMES[field] ?? base}`;
  if (def.cls === NXM_1) return `NXM_NX_${base}`;
  if (def.cls === OXM_PACKET_REGS) return `OXM_OF_PKT_REG${def.field}`;
  if (def.cls === OXM_BASIC) return OXM_TO_NXM[field] ?? `OXM_OF_${base}`;
  return field;
}

export function formatSubfield(field: string, ofs: number, nBits: number): string {
  const width = (FIELDS_BY_NAME.get(field)?.len ?? 0) * 8;
  const range = ofs === 0 && nBits === width ? '[]' : nBits === 1 ? `[${ofs}]` : `[${ofs}..${ofs + nBits - 1}]`;
  return nxmName(field) + range;
}

export function dotted(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('.');
}
