/**
 * The match-field table: OXM basic fields (class 0x8000), Nicira NXM fields (classes 0 and 1) and OVS's
 * packet registers (class 0x8001). Names follow ovs-ofctl / Ryu; an NXM field that duplicates an OXM basic
 * one carries an `_nxm` suffix so the name alone decides the encoding.
 */

export type FieldKind = 'num' | 'big' | 'mac' | 'ipv4' | 'ipv6' | 'u128' | 'bytes';

export interface FieldDef {
  readonly name: string;
  readonly cls: number;
  readonly field: number;
  /** Value length in bytes (the mask, when present, has the same length). */
  readonly len: number;
  readonly kind: FieldKind;
  /** ovs-ofctl's printing name (dump-flows). */
  readonly ovsName: string;
  /** The 32-bit NXM/OXM header without mask bit: class << 16 | field << 9 | len. */
  readonly header: number;
}

export const OXM_BASIC = 0x8000;
export const NXM_0 = 0x0000;
export const NXM_1 = 0x0001;
export const OXM_PACKET_REGS = 0x8001;

function kindOf(len: number, hint?: FieldKind): FieldKind {
  if (hint) return hint;
  return len <= 4 ? 'num' : len === 8 ? 'big' : len === 16 ? 'u128' : 'bytes';
}

const defs: FieldDef[] = [];
function def(cls: number, field: number, name: string, len: number, kind?: FieldKind, ovsName = name): void {
  defs.push({ name, cls, field, len, kind: kindOf(len, kind), ovsName, header: ((cls << 16) | (field << 9) | len) >>> 0 });
}

// OXM basic (OpenFlow 1.3 §7.2.3.7), plus pbb_uca/tcp_flags/actset_output/packet_type from 1.4/1.5.
def(OXM_BASIC, 0, 'in_port', 4);
def(OXM_BASIC, 1, 'in_phy_port', 4);
def(OXM_BASIC, 2, 'metadata', 8);
def(OXM_BASIC, 3, 'eth_dst', 6, 'mac', 'dl_dst');
def(OXM_BASIC, 4, 'eth_src', 6, 'mac', 'dl_src');
def(OXM_BASIC, 5, 'eth_type', 2, 'num', 'dl_type');
def(OXM_BASIC, 6, 'vlan_vid', 2);
def(OXM_BASIC, 7, 'vlan_pcp', 1, 'num', 'dl_vlan_pcp');
def(OXM_BASIC, 8, 'ip_dscp', 1);
def(OXM_BASIC, 9, 'ip_ecn', 1, 'num', 'nw_ecn');
def(OXM_BASIC, 10, 'ip_proto', 1, 'num', 'nw_proto');
def(OXM_BASIC, 11, 'ipv4_src', 4, 'ipv4', 'nw_src');
def(OXM_BASIC, 12, 'ipv4_dst', 4, 'ipv4', 'nw_dst');
def(OXM_BASIC, 13, 'tcp_src', 2, 'num', 'tp_src');
def(OXM_BASIC, 14, 'tcp_dst', 2, 'num', 'tp_dst');
def(OXM_BASIC, 15, 'udp_src', 2, 'num', 'tp_src');
def(OXM_BASIC, 16, 'udp_dst', 2, 'num', 'tp_dst');
def(OXM_BASIC, 17, 'sctp_src', 2, 'num', 'tp_src');
def(OXM_BASIC, 18, 'sctp_dst', 2, 'num', 'tp_dst');
def(OXM_BASIC, 19, 'icmpv4_type', 1, 'num', 'icmp_type');
def(OXM_BASIC, 20, 'icmpv4_code', 1, 'num', 'icmp_code');
def(OXM_BASIC, 21, 'arp_op', 2);
def(OXM_BASIC, 22, 'arp_spa', 4, 'ipv4');
def(OXM_BASIC, 23, 'arp_tpa', 4, 'ipv4');
def(OXM_BASIC, 24, 'arp_sha', 6, 'mac');
def(OXM_BASIC, 25, 'arp_tha', 6, 'mac');
def(OXM_BASIC, 26, 'ipv6_src', 16, 'ipv6');
def(OXM_BASIC, 27, 'ipv6_dst', 16, 'ipv6');
def(OXM_BASIC, 28, 'ipv6_flabel', 4, 'num', 'ipv6_label');
def(OXM_BASIC, 29, 'icmpv6_type', 1);
def(OXM_BASIC, 30, 'icmpv6_code', 1);
def(OXM_BASIC, 31, 'ipv6_nd_target', 16, 'ipv6', 'nd_target');
def(OXM_BASIC, 32, 'ipv6_nd_sll', 6, 'mac', 'nd_sll');
def(OXM_BASIC, 33, 'ipv6_nd_tll', 6, 'mac', 'nd_tll');
def(OXM_BASIC, 34, 'mpls_label', 4);
def(OXM_BASIC, 35, 'mpls_tc', 1);
def(OXM_BASIC, 36, 'mpls_bos', 1);
def(OXM_BASIC, 37, 'pbb_isid', 3);
def(OXM_BASIC, 38, 'tun_id', 8);
def(OXM_BASIC, 39, 'ipv6_exthdr', 2);
def(OXM_BASIC, 41, 'pbb_uca', 1);
def(OXM_BASIC, 42, 'tcp_flags', 2);
def(OXM_BASIC, 43, 'actset_output', 4);
def(OXM_BASIC, 44, 'packet_type', 4);

// NXM_OF_* (class 0): the OpenFlow 1.0-era fields, used by Nicira actions in OpenFlow 1.0 encodings.
def(NXM_0, 0, 'in_port_nxm', 2, 'num', 'in_port');
def(NXM_0, 1, 'eth_dst_nxm', 6, 'mac', 'dl_dst');
def(NXM_0, 2, 'eth_src_nxm', 6, 'mac', 'dl_src');
def(NXM_0, 3, 'eth_type_nxm', 2, 'num', 'dl_type');
def(NXM_0, 4, 'vlan_tci', 2);
def(NXM_0, 5, 'ip_tos', 1, 'num', 'nw_tos');
def(NXM_0, 6, 'ip_proto_nxm', 1, 'num', 'nw_proto');
def(NXM_0, 7, 'ipv4_src_nxm', 4, 'ipv4', 'nw_src');
def(NXM_0, 8, 'ipv4_dst_nxm', 4, 'ipv4', 'nw_dst');
def(NXM_0, 9, 'tcp_src_nxm', 2, 'num', 'tp_src');
def(NXM_0, 10, 'tcp_dst_nxm', 2, 'num', 'tp_dst');
def(NXM_0, 11, 'udp_src_nxm', 2, 'num', 'tp_src');
def(NXM_0, 12, 'udp_dst_nxm', 2, 'num', 'tp_dst');
def(NXM_0, 13, 'icmpv4_type_nxm', 1, 'num', 'icmp_type');
def(NXM_0, 14, 'icmpv4_code_nxm', 1, 'num', 'icmp_code');
def(NXM_0, 15, 'arp_op_nxm', 2, 'num', 'arp_op');
def(NXM_0, 16, 'arp_spa_nxm', 4, 'ipv4', 'arp_spa');
def(NXM_0, 17, 'arp_tpa_nxm', 4, 'ipv4', 'arp_tpa');

// NXM_NX_* (class 1): registers, tunnel metadata, conntrack, marks.
for (let i = 0; i < 16; i++) def(NXM_1, i, `reg${i}`, 4);
def(NXM_1, 16, 'tun_id_nxm', 8, 'big', 'tun_id');
def(NXM_1, 17, 'arp_sha_nxm', 6, 'mac', 'arp_sha');
def(NXM_1, 18, 'arp_tha_nxm', 6, 'mac', 'arp_tha');
def(NXM_1, 19, 'ipv6_src_nxm', 16, 'ipv6', 'ipv6_src');
def(NXM_1, 20, 'ipv6_dst_nxm', 16, 'ipv6', 'ipv6_dst');
def(NXM_1, 21, 'icmpv6_type_nxm', 1, 'num', 'icmpv6_type');
def(NXM_1, 22, 'icmpv6_code_nxm', 1, 'num', 'icmpv6_code');
def(NXM_1, 23, 'nd_target_nxm', 16, 'ipv6', 'nd_target');
def(NXM_1, 24, 'nd_sll_nxm', 6, 'mac', 'nd_sll');
def(NXM_1, 25, 'nd_tll_nxm', 6, 'mac', 'nd_tll');
def(NXM_1, 26, 'ip_frag', 1, 'num', 'nw_frag');
def(NXM_1, 27, 'ipv6_label_nxm', 4, 'num', 'ipv6_label');
def(NXM_1, 28, 'ip_ecn_nxm', 1, 'num', 'nw_ecn');
def(NXM_1, 29, 'ip_ttl', 1, 'num', 'nw_ttl');
def(NXM_1, 30, 'mpls_ttl', 1);
def(NXM_1, 31, 'tun_ipv4_src', 4, 'ipv4', 'tun_src');
def(NXM_1, 32, 'tun_ipv4_dst', 4, 'ipv4', 'tun_dst');
def(NXM_1, 33, 'pkt_mark', 4);
def(NXM_1, 34, 'tcp_flags_nxm', 2, 'num', 'tcp_flags');
def(NXM_1, 35, 'dp_hash', 4);
def(NXM_1, 36, 'recirc_id', 4);
def(NXM_1, 37, 'conj_id', 4);
def(NXM_1, 38, 'tun_gbp_id', 2);
def(NXM_1, 39, 'tun_gbp_flags', 1);
def(NXM_1, 104, 'tun_flags', 2);
def(NXM_1, 105, 'ct_state', 4);
def(NXM_1, 106, 'ct_zone', 2);
def(NXM_1, 107, 'ct_mark', 4);
def(NXM_1, 108, 'ct_label', 16, 'u128');
def(NXM_1, 109, 'tun_ipv6_src', 16, 'ipv6');
def(NXM_1, 110, 'tun_ipv6_dst', 16, 'ipv6');
def(NXM_1, 111, 'xxreg0', 16, 'u128');
def(NXM_1, 112, 'xxreg1', 16, 'u128');
def(NXM_1, 113, 'xxreg2', 16, 'u128');
def(NXM_1, 114, 'xxreg3', 16, 'u128');
def(NXM_1, 119, 'ct_nw_proto', 1);
def(NXM_1, 120, 'ct_nw_src', 4, 'ipv4');
def(NXM_1, 121, 'ct_nw_dst', 4, 'ipv4');
def(NXM_1, 122, 'ct_ipv6_src', 16, 'ipv6');
def(NXM_1, 123, 'ct_ipv6_dst', 16, 'ipv6');
def(NXM_1, 124, 'ct_tp_src', 2);
def(NXM_1, 125, 'ct_tp_dst', 2);

// OVS packet registers as 64-bit OXM fields.
for (let i = 0; i < 8; i++) def(OXM_PACKET_REGS, i, `xreg${i}`, 8);

export const FIELD_DEFS: readonly FieldDef[] = defs;
export const FIELDS_BY_NAME: ReadonlyMap<string, FieldDef> = new Map(defs.map((d) => [d.name, d]));
const byClassField = new Map<number, FieldDef>(defs.map((d) => [(d.cls << 8) | d.field, d]));

export function fieldByClass(cls: number, field: number): FieldDef | undefined {
  return byClassField.get((cls << 8) | field);
}

/** Looks a field up by the header carried in Nicira actions (mask bit and length ignored for the lookup). */
export function fieldByHeader(header: number): FieldDef | undefined {
  return byClassField.get(((header >>> 16) << 8) | ((header >>> 9) & 0x7f));
}
