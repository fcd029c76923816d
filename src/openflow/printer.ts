/**
 * ovs-ofctl `dump-flows` text for flows: formatFlow / formatMatch, used by golden tests and debug output.
 * Fields print in OVS's own order (lib/match.c), with its legacy names and protocol shorthands (ip, tcp, arp …).
 */
import { formatActions, formatInstructions, formatPort } from './printer-actions.js';
import { formatValue, hex, toBig } from './printer-values.js';
import type { FieldValue, FlowStats, Instruction, Match, PortRef } from './types.js';

export { formatActions, formatInstructions };

type FV = { value: FieldValue; mask?: FieldValue };

/** Our names (incl. NXM duplicates) → OVS's canonical field in a match. */
const CANON: Record<string, string> = {
  in_port_nxm: 'in_port',
  eth_dst_nxm: 'eth_dst',
  eth_src_nxm: 'eth_src',
  eth_type_nxm: 'eth_type',
  ip_proto_nxm: 'ip_proto',
  ipv4_src_nxm: 'ipv4_src',
  ipv4_dst_nxm: 'ipv4_dst',
  tcp_src_nxm: 'tcp_src',
  tcp_dst_nxm: 'tcp_dst',
  udp_src_nxm: 'udp_src',
  udp_dst_nxm: 'udp_dst',
  icmpv4_type_nxm: 'icmpv4_type',
  icmpv4_code_nxm: 'icmpv4_code',
  arp_op_nxm: 'arp_op',
  arp_spa_nxm: 'arp_spa',
  arp_tpa_nxm: 'arp_tpa',
  tun_id_nxm: 'tun_id',
  arp_sha_nxm: 'arp_sha',
  arp_tha_nxm: 'arp_tha',
  ipv6_src_nxm: 'ipv6_src',
  ipv6_dst_nxm: 'ipv6_dst',
  icmpv6_type_nxm: 'icmpv6_type',
  icmpv6_code_nxm: 'icmpv6_code',
  nd_target_nxm: 'ipv6_nd_target',
  nd_sll_nxm: 'ipv6_nd_sll',
  nd_tll_nxm: 'ipv6_nd_tll',
  ipv6_label_nxm: 'ipv6_flabel',
  ip_ecn_nxm: 'ip_ecn',
  tcp_flags_nxm: 'tcp_flags',
};

const CT_STATES = ['new', 'est', 'rel', 'rpl', 'inv', 'trk', 'snat', 'dnat'];
const TCP_FLAGS = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr', 'ns'];

function flagsText(names: string[], value: number, mask: number | undefined, full: number): string {
  if (mask === undefined || mask === full) {
    const set = names.filter((_, i) => value & (1 << i));
    return set.length ? set.join('|') : '0';
  }
  return names.map((n, i) => ((mask >> i) & 1 ? `${(value >> i) & 1 ? '+' : '-'}${n}` : '')).join('');
}

function fragText(v: number, m: number | undefined): string {
  const mask = m ?? 3;
  if (mask === 1) return v & 1 ? 'yes' : 'no';
  if (mask === 2) return v & 2 ? 'later' : 'not_later';
  return v === 0 ? 'no' : v === 1 ? 'first' : v === 3 ? 'later' : `${v}/${mask}`;
}

const SHORT_IP: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 132: 'sctp' };
const SHORT_IP6: Record<number, string> = { 58: 'icmp6', 6: 'tcp6', 17: 'udp6', 132: 'sctp6' };
const SHORT_L2: Record<number, string> = { 0x0800: 'ip', 0x86dd: 'ipv6', 0x0806: 'arp', 0x8035: 'rarp', 0x8847: 'mpls', 0x8848: 'mplsm' };

/** Formats a match like ovs-ofctl (without priority). */
export function formatMatch(match: Match, priority?: number): string {
  const f = new Map<string, FV>();
  const unknown: string[] = [];
  const regs: Array<FV | undefined> = [];
  for (const m of match) {
    if (m.field === 'unknown') {
      const u = m as Extract<Match[number], { field: 'unknown' }>;
      unknown.push(`unknown(${u.class.toString(16)}:${u.fieldNum})=0x${u.raw.toString('hex')}`);
      continue;
    }
    const k = m as { field: string; value: FieldValue; mask?: FieldValue };
    const name = CANON[k.field] ?? k.field;
    const reg = /^reg(\d+)$/.exec(name);
    const xreg = /^xreg(\d+)$/.exec(name);
    if (reg) regs[Number(reg[1])] = { value: k.value, mask: k.mask };
    else if (xreg) {
      // OVS shows a 64-bit xreg as its two 32-bit halves.
      const v = toBig(k.value),
        mk = k.mask === undefined ? 0xffffffffffffffffn : toBig(k.mask);
      const i = Number(xreg[1]) * 2;
      for (const [idx, shift] of [
        [i, 32n],
        [i + 1, 0n],
      ] as const) {
        const hm = Number((mk >> shift) & 0xffffffffn);
        if (hm) regs[idx] = { value: Number((v >> shift) & 0xffffffffn), ...(hm !== 0xffffffff ? { mask: hm } : {}) };
      }
    } else f.set(name, { value: k.value, mask: k.mask });
  }
  const out: string[] = [];
  if (priority !== undefined && priority !== 0x8000) out.push(`priority=${priority}`);
  const put = (ovs: string, name: string): void => {
    const x = f.get(name);
    if (x) out.push(`${ovs}=${formatValue(name, x.value, x.mask)}`);
  };
  const num = (name: string): number | undefined => {
    const x = f.get(name);
    return x && x.mask === undefined ? Number(toBig(x.value)) : undefined;
  };
  put('pkt_mark', 'pkt_mark');
  put('recirc_id', 'recirc_id');
  put('dp_hash', 'dp_hash');
  put('conj_id', 'conj_id');
  const ct = f.get('ct_state');
  if (ct) out.push(`ct_state=${flagsText(CT_STATES, Number(ct.value), ct.mask === undefined ? undefined : Number(ct.mask), 0xff)}`);
  const zone = f.get('ct_zone');
  if (zone) out.push(`ct_zone=${zone.mask === undefined ? String(zone.value) : formatValue('ct_zone', zone.value, zone.mask)}`);
  put('ct_mark', 'ct_mark');
  put('ct_label', 'ct_label');
  put('ct_nw_src', 'ct_nw_src');
  put('ct_nw_dst', 'ct_nw_dst');
  put('ct_ipv6_src', 'ct_ipv6_src');
  put('ct_ipv6_dst', 'ct_ipv6_dst');
  put('ct_nw_proto', 'ct_nw_proto');
  put('ct_tp_src', 'ct_tp_src');
  put('ct_tp_dst', 'ct_tp_dst');
  const dlType = num('eth_type');
  const proto = num('ip_proto');
  let short = dlType === undefined ? undefined : SHORT_L2[dlType];
  let protoShown = false;
  if (proto !== undefined && (dlType === 0x0800 || dlType === 0x86dd)) {
    const s = (dlType === 0x0800 ? SHORT_IP : SHORT_IP6)[proto];
    if (s) {
      short = s;
      protoShown = true;
    }
  }
  if (short) out.push(short);
  regs.forEach((r, i) => {
    if (r) out.push(`reg${i}=${formatValue('reg0', r.value, r.mask)}`);
  });
  put('tun_id', 'tun_id');
  put('tun_src', 'tun_ipv4_src');
  put('tun_dst', 'tun_ipv4_dst');
  put('tun_ipv6_src', 'tun_ipv6_src');
  put('tun_ipv6_dst', 'tun_ipv6_dst');
  put('tun_flags', 'tun_flags');
  put('metadata', 'metadata');
  const inPort = f.get('in_port');
  if (inPort) out.push(`in_port=${portName(Number(inPort.value))}`);
  const vid = f.get('vlan_vid');
  if (vid) {
    const v = Number(vid.value),
      m = vid.mask === undefined ? 0x1fff : Number(vid.mask);
    if (m === 0x1fff && v & 0x1000) out.push(`dl_vlan=${v & 0xfff}`);
    else out.push(`vlan_tci=0x${(v & 0x1fff).toString(16).padStart(4, '0')}/0x${m.toString(16).padStart(4, '0')}`);
  }
  put('dl_vlan_pcp', 'vlan_pcp');
  put('vlan_tci', 'vlan_tci');
  put('dl_src', 'eth_src');
  put('dl_dst', 'eth_dst');
  if (!short && f.has('eth_type'))
    out.push(
      `dl_type=0x${Number(toBig(f.get('eth_type')!.value))
        .toString(16)
        .padStart(4, '0')}`,
    );
  put('ipv6_src', 'ipv6_src');
  put('ipv6_dst', 'ipv6_dst');
  const label = f.get('ipv6_flabel');
  if (label)
    out.push(
      `ipv6_label=0x${Number(label.value).toString(16).padStart(5, '0')}` +
        (label.mask !== undefined ? `/0x${Number(label.mask).toString(16).padStart(5, '0')}` : ''),
    );
  put('arp_spa', 'arp_spa');
  put('arp_tpa', 'arp_tpa');
  put('nw_src', 'ipv4_src');
  put('nw_dst', 'ipv4_dst');
  put('arp_op', 'arp_op');
  if (!protoShown) put('nw_proto', 'ip_proto');
  put('arp_sha', 'arp_sha');
  put('arp_tha', 'arp_tha');
  const dscp = f.get('ip_dscp');
  if (dscp) out.push(`nw_tos=${Number(dscp.value) << 2}`);
  put('nw_tos', 'ip_tos');
  put('nw_ecn', 'ip_ecn');
  put('nw_ttl', 'ip_ttl');
  put('mpls_label', 'mpls_label');
  put('mpls_tc', 'mpls_tc');
  put('mpls_ttl', 'mpls_ttl');
  put('mpls_bos', 'mpls_bos');
  const frag = f.get('ip_frag');
  if (frag) out.push(`nw_frag=${fragText(Number(frag.value), frag.mask === undefined ? undefined : Number(frag.mask))}`);
  put('icmp_type', 'icmpv4_type');
  put('icmp_code', 'icmpv4_code');
  put('icmp_type', 'icmpv6_type');
  put('icmp_code', 'icmpv6_code');
  put('nd_target', 'ipv6_nd_target');
  put('nd_sll', 'ipv6_nd_sll');
  put('nd_tll', 'ipv6_nd_tll');
  for (const p of ['tcp', 'udp', 'sctp']) {
    const s = f.get(`${p}_src`),
      d = f.get(`${p}_dst`);
    if (s) out.push(`tp_src=${s.mask === undefined ? String(s.value) : formatValue('tp', s.value, s.mask)}`);
    if (d) out.push(`tp_dst=${d.mask === undefined ? String(d.value) : formatValue('tp', d.value, d.mask)}`);
  }
  const tf = f.get('tcp_flags');
  if (tf) out.push(`tcp_flags=${flagsText(TCP_FLAGS, Number(tf.value), tf.mask === undefined ? undefined : Number(tf.mask), 0xfff)}`);
  // Any field not handled above still shows up, under our name.
  const shown = new Set([
    'pkt_mark',
    'recirc_id',
    'dp_hash',
    'conj_id',
    'ct_state',
    'ct_zone',
    'ct_mark',
    'ct_label',
    'ct_nw_src',
    'ct_nw_dst',
    'ct_ipv6_src',
    'ct_ipv6_dst',
    'ct_nw_proto',
    'ct_tp_src',
    'ct_tp_dst',
    'eth_type',
    'ip_proto',
    'tun_id',
    'tun_ipv4_src',
    'tun_ipv4_dst',
    'tun_ipv6_src',
    'tun_ipv6_dst',
    'tun_flags',
    'metadata',
    'in_port',
    'vlan_vid',
    'vlan_pcp',
    'vlan_tci',
    'eth_src',
    'eth_dst',
    'ipv6_src',
    'ipv6_dst',
    'ipv6_flabel',
    'arp_spa',
    'arp_tpa',
    'ipv4_src',
    'ipv4_dst',
    'arp_op',
    'arp_sha',
    'arp_tha',
    'ip_dscp',
    'ip_tos',
    'ip_ecn',
    'ip_ttl',
    'mpls_label',
    'mpls_tc',
    'mpls_ttl',
    'mpls_bos',
    'ip_frag',
    'icmpv4_type',
    'icmpv4_code',
    'icmpv6_type',
    'icmpv6_code',
    'ipv6_nd_target',
    'ipv6_nd_sll',
    'ipv6_nd_tll',
    'tcp_src',
    'tcp_dst',
    'udp_src',
    'udp_dst',
    'sctp_src',
    'sctp_dst',
    'tcp_flags',
  ]);
  for (const [name, x] of f) if (!shown.has(name)) out.push(`${name}=${formatValue(name, x.value, x.mask)}`);
  out.push(...unknown);
  return out.join(',');
}

function portName(n: number): string {
  const names: Record<number, string> = {
    0xfffffff8: 'IN_PORT',
    0xfffffff9: 'TABLE',
    0xfffffffa: 'NORMAL',
    0xfffffffb: 'FLOOD',
    0xfffffffc: 'ALL',
    0xfffffffd: 'CONTROLLER',
    0xfffffffe: 'LOCAL',
    0xffffffff: 'ANY',
  };
  return names[n] ?? String(n);
}

/** A FLOW_MOD or flow-stats entry (anything with these fields). */
export interface FlowLike {
  cookie?: bigint;
  tableId?: number;
  priority?: number;
  idleTimeout?: number;
  hardTimeout?: number;
  flags?: number;
  match: Match;
  instructions: Instruction[];
  durationSec?: number;
  durationNsec?: number;
  packetCount?: bigint;
  byteCount?: bigint;
}

/**
 * One line of `ovs-ofctl -O OpenFlow13 dump-flows` (without the leading space). Statistics (duration,
 * n_packets, n_bytes) are printed only with `{ stats: true }` so golden text stays stable.
 */
export function formatFlow(f: FlowLike | FlowStats, opts: { stats?: boolean } = {}): string {
  const head: string[] = [`cookie=0x${(f.cookie ?? 0n).toString(16)}`];
  if (opts.stats && f.durationSec !== undefined) {
    head.push(`duration=${f.durationSec}.${String(Math.floor((f.durationNsec ?? 0) / 1e6)).padStart(3, '0')}s`);
  }
  head.push(`table=${f.tableId ?? 0}`);
  if (opts.stats && f.packetCount !== undefined) head.push(`n_packets=${f.packetCount}`, `n_bytes=${f.byteCount ?? 0n}`);
  if (f.idleTimeout) head.push(`idle_timeout=${f.idleTimeout}`);
  if (f.hardTimeout) head.push(`hard_timeout=${f.hardTimeout}`);
  const flags = f.flags ?? 0;
  const flagNames = [
    [1, 'send_flow_rem'],
    [2, 'check_overlap'],
    [4, 'reset_counts'],
    [8, 'no_packet_counts'],
    [16, 'no_byte_counts'],
  ] as const;
  let text = `${head.join(', ')}, `;
  for (const [bit, name] of flagNames) if (flags & bit) text += `${name} `;
  const match = formatMatch(f.match, f.priority);
  return `${text}${match}${match ? ' ' : ''}actions=${formatInstructions(f.instructions)}`;
}

export { formatPort };
export type { PortRef };
export { hex };
