/**
 * "Where does this packet go?" (after Faucet's FakeOFTable.is_output): runs a packet, given as in_port and header
 * fields, through a set of OpenFlow 1.3 flows (plus OVS's Nicira actions) and answers what comes out, with the
 * packet as modified on the way (tunnel key and destination, VLAN, MACs, TTL, registers, metadata…).
 *
 * Semantics modelled (as OVS implements them):
 * - per table, the highest-priority flow whose every match field equals the packet's under its mask
 *   (fields the packet lacks read as 0, like registers); two matching flows of equal priority are an error
 *   (the switch's choice would be arbitrary); no match = the OpenFlow 1.3 table miss, a drop;
 * - instructions in OpenFlow order: apply_actions, clear_actions, write_actions, write_metadata, goto_table
 *   (forward only); the action set runs when the pipeline ends without a goto;
 * - actions: output (to a number, in_port, controller, local, normal, flood, all; never back to the in_port unless
 *   addressed as in_port, as OVS), set_field (masked too), reg_load, reg_move, set_tunnel, push_vlan / pop_vlan,
 *   dec_nw_ttl / dec_ttl (a TTL of 0 or 1 stops the packet: OVS drops it, or sends it to the controller for
 *   dec_ttl), controller (with userdata), resubmit (to a table and/or as from a port, depth-limited like OVS),
 *   group (all: every bucket on a copy; indirect and select: the first bucket, select being deterministic
 *   here), exit, note;
 * - conjunctive matches (OVS's classifier): flows whose only actions are conjunctions are soft; when every clause
 *   of a conjunction id matches at a priority above the best ordinary match, the table is looked up again with
 *   conj_id set to that id;
 * - conntrack (a small model of OVS's, see Conntrack): ct looks the packet up in a zone and sets ct_state and
 *   ct_mark (with table=, the packet continues there, like a resubmit); ct(commit, exec(…)) creates or updates the
 *   entry and its mark. Connections are keyed by addresses, protocol and L4 ports (ICMP by echo request/reply);
 *   no invalid state, no related traffic; NAT of IPv4 addresses (ct(commit, nat(src=…|dst=…)) on a new connection,
 *   nat applied to both directions of a NATed connection), never of ports;
 * - two matching flows at one priority throw unless they do the very same thing (the switch's pick is then moot);
 * - anything else (learn…) throws: a test must not pass on an action that was ignored.
 */
import {
  FIELD_DEFS,
  FIELDS_BY_NAME,
  type Action,
  type FieldDef,
  type FieldValue,
  type Instruction,
  type Match,
} from '../../src/openflow/index.js';
import { formatIpv6, intToIp, parseIpv4, parseIpv6 } from '../../src/net/addr.js';
import { portNumber } from '../../src/openflow/constants.js';

/** A flow as the table sees it (DesiredFlow and FlowStats both fit). */
export interface TableFlow {
  tableId: number;
  priority: number;
  match: Match;
  instructions: Instruction[];
  cookie?: bigint;
}

/** A group as GROUP_MOD carries it. */
export interface TableGroup {
  groupId: number;
  groupType: 'all' | 'select' | 'indirect' | 'ff' | number;
  buckets: { actions: Action[] }[];
}

/** A packet: in_port and any header / metadata fields by name (OXM or ovs-ofctl names), friendly values. */
export type PacketSpec = Record<string, FieldValue>;

/** A packet's fields with friendly values: MACs and IPs as text, other fields as numbers (bigint when wider). */
export type PacketFields = Record<string, number | bigint | string>;

export interface Delivery {
  /** An ofport, or a reserved port name ('controller', 'local', 'normal', 'flood', 'all'). */
  port: number | string;
  /** The packet as it left, every field it has (in_port is the one it came in on). */
  packet: PacketFields;
  /** For the controller: the userdata of a Nicira controller action, the reason ('action' or 'invalid_ttl'). */
  userdata?: Buffer;
  reason?: 'action' | 'invalid_ttl';
}

export interface Trace {
  outputs: Delivery[];
  /** Every flow the packet hit, in order (table, priority, cookie). */
  path: { tableId: number; priority: number; cookie: bigint }[];
}

const MAX_RESUBMIT_DEPTH = 64;

const CT_NEW = 0x01n,
  CT_EST = 0x02n,
  CT_RPL = 0x08n,
  CT_TRK = 0x20n;

/** One tracked connection: its original-direction key and mark, and its NAT (address only: ports are kept). */
interface Connection {
  mark: bigint;
  /** src: the original source becomes `to`; dst: the original destination becomes `to`. */
  nat?: { kind: 'src' | 'dst'; to: bigint; from: bigint };
}

/**
 * Conntrack as the fake switch models it: committed connections per zone, looked up by the packet's 5-tuple in
 * either direction. Shared by every trace of one FakeOFTable, so a test can open a connection with one packet and
 * send its reply with the next.
 */
export class Conntrack {
  readonly connections = new Map<string, Connection>();

  static tuple(pkt: { get(name: string): bigint }, reverse = false): string {
    const proto = pkt.get('ip_proto');
    let sport = 0n,
      dport = 0n;
    if (proto === 6n) [sport, dport] = [pkt.get('tcp_src'), pkt.get('tcp_dst')];
    else if (proto === 17n) [sport, dport] = [pkt.get('udp_src'), pkt.get('udp_dst')];
    else if (proto === 1n) {
      // An echo request (8) and its reply (0) are one connection.
      const t = pkt.get('icmp_type');
      sport = t === 0n ? 8n : t;
    }
    const [a, b, pa, pb] = [pkt.get('ipv4_src'), pkt.get('ipv4_dst'), sport, dport];
    return reverse ? `${b}/${a}/${proto}/${pb}/${pa}` : `${a}/${b}/${proto}/${pa}/${pb}`;
  }

  /** Reply-direction keys of NATed connections (the reverse of the translated tuple) → their original key. */
  readonly natReplies = new Map<string, string>();

  lookup(zone: bigint, pkt: { get(name: string): bigint }): { state: bigint; conn?: Connection; key: string; reply?: boolean } {
    const fwd = `${zone}|${Conntrack.tuple(pkt)}`;
    const c = this.connections.get(fwd);
    if (c) return { state: CT_TRK | CT_EST, conn: c, key: fwd };
    const rev = `${zone}|${Conntrack.tuple(pkt, true)}`;
    const natOrig = this.natReplies.get(fwd);
    const r = this.connections.get(natOrig ?? rev);
    if (r && (natOrig !== undefined || !r.nat)) return { state: CT_TRK | CT_EST | CT_RPL, conn: r, key: natOrig ?? rev, reply: true };
    return { state: CT_TRK | CT_NEW, key: fwd };
  }

  /**
   * NAT of a committed connection: the translated tuple's reverse is where its replies are found. Called for a
   * new connection committed with nat(src=…) or nat(dst=…), before the packet is translated.
   */
  setNat(zone: bigint, conn: Connection, pkt: Pkt, kind: 'src' | 'dst', to: bigint): void {
    const field = kind === 'src' ? 'ipv4_src' : 'ipv4_dst';
    conn.nat = { kind, to, from: pkt.get(field) };
    const translated = pkt.clone();
    translated.set(field, to);
    // The reply's own tuple: addresses and L4 ports swapped (an ICMP echo reply keeps the request's "ports").
    const [a, b, proto, pa, pb] = Conntrack.tuple(translated).split('/');
    const reply = proto === '1' ? `${b}/${a}/${proto}/${pa}/${pb}` : `${b}/${a}/${proto}/${pb}/${pa}`;
    this.natReplies.set(`${zone}|${reply}`, `${zone}|${Conntrack.tuple(pkt)}`);
  }

  /** Applies a connection's NAT to a packet of it (original direction: forward; reply: the reverse). */
  static translate(conn: Connection, pkt: Pkt, reply: boolean): void {
    const n = conn.nat;
    if (!n) return;
    if (!reply) pkt.set(n.kind === 'src' ? 'ipv4_src' : 'ipv4_dst', n.to);
    else pkt.set(n.kind === 'src' ? 'ipv4_dst' : 'ipv4_src', n.from);
  }
}
const GROUP_TYPES = ['all', 'select', 'indirect', 'ff'];

/** One name per field: an NXM duplicate (`tun_id_nxm`) is the OXM field (`tun_id`); ovs-ofctl names work too. */
function fieldDef(name: string): FieldDef {
  const d = FIELDS_BY_NAME.get(name) ?? FIELD_DEFS.find((f) => f.ovsName === name);
  if (!d) throw new Error(`fake table: unknown field ${name}`);
  const base = d.name.endsWith('_nxm') ? FIELDS_BY_NAME.get(d.name.slice(0, -4)) : undefined;
  return base ?? d;
}

function width(d: FieldDef): number {
  return d.len * 8;
}

function toBig(d: FieldDef, v: FieldValue): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  if (Buffer.isBuffer(v)) return v.length === 0 ? 0n : BigInt(`0x${v.toString('hex')}`);
  if (d.kind === 'mac') {
    if (!/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i.test(v)) throw new Error(`fake table: bad MAC ${v} for ${d.name}`);
    return BigInt(`0x${v.replace(/[:-]/g, '')}`);
  }
  if (d.kind === 'ipv4') {
    const n = parseIpv4(v);
    if (n === undefined) throw new Error(`fake table: bad IPv4 ${v} for ${d.name}`);
    return BigInt(n);
  }
  if (d.kind === 'ipv6') {
    const n = parseIpv6(v);
    if (n === undefined) throw new Error(`fake table: bad IPv6 ${v} for ${d.name}`);
    return n;
  }
  return BigInt(v);
}

function friendly(d: FieldDef, v: bigint): number | bigint | string {
  if (d.kind === 'mac')
    return v
      .toString(16)
      .padStart(12, '0')
      .replace(/(..)(?!$)/g, '$1:');
  if (d.kind === 'ipv4') return intToIp(Number(v));
  if (d.kind === 'ipv6') return formatIpv6(v);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function ones(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

/** A packet in flight: fields by canonical name as bigints. */
class Pkt {
  readonly fields = new Map<string, bigint>();

  static from(spec: PacketSpec): Pkt {
    const p = new Pkt();
    for (const [k, v] of Object.entries(spec)) p.fields.set(fieldDef(k).name, toBig(fieldDef(k), v));
    if (!p.fields.has('in_port')) throw new Error('fake table: a packet needs in_port');
    return p;
  }

  clone(): Pkt {
    const p = new Pkt();
    for (const [k, v] of this.fields) p.fields.set(k, v);
    return p;
  }

  get(name: string): bigint {
    return this.fields.get(fieldDef(name).name) ?? 0n;
  }

  set(name: string, v: bigint, mask?: bigint): void {
    const d = fieldDef(name);
    const all = ones(width(d));
    const m = mask === undefined ? all : mask & all;
    this.fields.set(d.name, (this.get(d.name) & ~m & all) | (v & m));
  }

  /** Bits [ofs, ofs + nBits) of a field. */
  bits(name: string, ofs: number, nBits: number): bigint {
    return (this.get(name) >> BigInt(ofs)) & ones(nBits);
  }

  setBits(name: string, ofs: number, nBits: number, v: bigint): void {
    this.set(name, (v & ones(nBits)) << BigInt(ofs), ones(nBits) << BigInt(ofs));
  }

  view(): PacketFields {
    const out: PacketFields = {};
    for (const k of [...this.fields.keys()].sort()) out[k] = friendly(fieldDef(k), this.fields.get(k)!);
    return out;
  }
}

/** Flows (and groups) and the packets run through them. */
export class FakeOFTable {
  private readonly tables = new Map<number, TableFlow[]>();
  private readonly groups = new Map<number, TableGroup>();
  /** The switch's connection tracker (kept across traces). */
  readonly conntrack = new Conntrack();

  constructor(flows: Iterable<TableFlow>, groups: Iterable<TableGroup> = []) {
    for (const f of flows) {
      let t = this.tables.get(f.tableId);
      if (!t) this.tables.set(f.tableId, (t = []));
      t.push(f);
    }
    for (const t of this.tables.values()) t.sort((a, b) => b.priority - a.priority);
    for (const g of groups) this.groups.set(g.groupId, g);
  }

  /** Runs a packet from table 0; every output with the packet as it left. */
  trace(spec: PacketSpec): Trace {
    const trace: Trace = { outputs: [], path: [] };
    const pkt = Pkt.from(spec);
    const actionSet = new Map<string, Action>();
    this.runTable(0, pkt, trace, actionSet, 0);
    return trace;
  }

  /** The outputs of trace(): where the packet goes, and as what. */
  outputs(spec: PacketSpec): Delivery[] {
    return this.trace(spec).outputs;
  }

  /** Whether the packet leaves on `port`, and (when given) with these fields (friendly values). */
  isOutput(spec: PacketSpec, port: number | string, fields: PacketSpec = {}): boolean {
    return this.outputs(spec).some(
      (o) =>
        o.port === port &&
        Object.entries(fields).every(([k, v]) => {
          const d = fieldDef(k);
          return o.packet[d.name] !== undefined && toBig(d, o.packet[d.name]!) === toBig(d, v);
        }),
    );
  }

  /** The ports the packet leaves on (sorted numbers first, then reserved names). */
  ports(spec: PacketSpec): (number | string)[] {
    return this.outputs(spec)
      .map((o) => o.port)
      .sort((a, b) => (typeof a === typeof b ? (a < b ? -1 : a > b ? 1 : 0) : typeof a === 'number' ? -1 : 1));
  }

  private matches(f: TableFlow, pkt: Pkt): boolean {
    return f.match.every((m) => {
      if (m.field === 'unknown' || m.value === undefined) throw new Error('fake table: cannot match an unknown field');
      const d = fieldDef(m.field);
      const mask = m.mask === undefined ? ones(width(d)) : toBig(d, m.mask);
      return (pkt.get(d.name) & mask) === (toBig(d, m.value) & mask);
    });
  }

  private lookup(tableId: number, pkt: Pkt): TableFlow | undefined {
    const flows = this.tables.get(tableId) ?? [];
    const hits = flows.filter((f) => this.matches(f, pkt));
    const hard = hits.filter((f) => conjunctions(f) === undefined);
    if (hard.length > 1 && hard[0]!.priority === hard[1]!.priority && stableInstructions(hard[0]!) !== stableInstructions(hard[1]!)) {
      throw new Error(
        `fake table: table ${tableId} has two matching flows at priority ${hard[0]!.priority}: the switch would pick one arbitrarily`,
      );
    }
    // Conjunctive matches above the best ordinary one: every clause of an id matched (at one priority).
    const floor = hard[0]?.priority ?? -1;
    const clauses = new Map<string, { n: number; seen: Set<number> }>();
    let best: { priority: number; id: number } | undefined;
    for (const f of hits) {
      if (f.priority <= floor) continue;
      for (const c of conjunctions(f) ?? []) {
        const key = `${f.priority}/${c.id}`;
        let e = clauses.get(key);
        if (!e) clauses.set(key, (e = { n: c.nClauses, seen: new Set() }));
        e.seen.add(c.clause);
        if (e.seen.size === e.n && (!best || f.priority > best.priority || (f.priority === best.priority && c.id < best.id)))
          best = { priority: f.priority, id: c.id };
      }
    }
    if (!best) return hard[0];
    const withId = pkt.clone();
    withId.set('conj_id', BigInt(best.id));
    const again = flows.filter((f) => conjunctions(f) === undefined && this.matches(f, withId));
    return again[0];
  }

  private runTable(tableId: number, pkt: Pkt, trace: Trace, actionSet: Map<string, Action>, depth: number): 'exit' | undefined {
    const flow = this.lookup(tableId, pkt);
    if (!flow) return undefined; // table miss in OpenFlow 1.3: drop
    trace.path.push({ tableId, priority: flow.priority, cookie: flow.cookie ?? 0n });
    let next: number | undefined;
    const order = ['apply_actions', 'clear_actions', 'write_actions', 'write_metadata', 'goto_table'];
    for (const ins of [...flow.instructions].sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type))) {
      switch (ins.type) {
        case 'apply_actions':
          if (this.runActions(ins.actions, pkt, trace, depth) === 'exit') return 'exit';
          break;
        case 'clear_actions':
          actionSet.clear();
          break;
        case 'write_actions':
          for (const a of ins.actions) actionSet.set(a.type === 'set_field' ? `set_field:${fieldDef(a.field).name}` : a.type, a);
          break;
        case 'write_metadata':
          pkt.set('metadata', ins.metadata, ins.mask);
          break;
        case 'goto_table':
          if (ins.tableId <= tableId) throw new Error(`fake table: goto_table ${ins.tableId} from table ${tableId} does not go forward`);
          next = ins.tableId;
          break;
        case 'meter':
          break; // rate limiting: not modelled, the packet passes
        default:
          throw new Error(`fake table: unsupported instruction ${ins.type}`);
      }
    }
    if (next !== undefined) return this.runTable(next, pkt, trace, actionSet, depth);
    if (depth === 0 && actionSet.size > 0) {
      // The action set, in its OpenFlow order: field changes first, then group or output.
      const set = [...actionSet.values()];
      const last = (a: Action) => (a.type === 'group' ? 2 : a.type === 'output' ? 3 : 1);
      this.runActions(
        set.sort((a, b) => last(a) - last(b)).filter((a, _, all) => a.type !== 'output' || !all.some((x) => x.type === 'group')),
        pkt,
        trace,
        depth,
      );
    }
    return undefined;
  }

  private runActions(actions: Action[], pkt: Pkt, trace: Trace, depth: number): 'exit' | undefined {
    for (const a of actions) {
      switch (a.type) {
        case 'output': {
          const port = a.port;
          const inPort = Number(pkt.get('in_port'));
          if (port === 'in_port') trace.outputs.push({ port: inPort, packet: pkt.view() });
          else if (typeof port === 'number' && port === inPort)
            break; // OVS never sends a packet back where it came from
          else trace.outputs.push({ port, packet: pkt.view(), ...(port === 'controller' ? { reason: 'action' as const } : {}) });
          break;
        }
        case 'controller':
          trace.outputs.push({ port: 'controller', packet: pkt.view(), reason: 'action', ...(a.userdata ? { userdata: a.userdata } : {}) });
          break;
        case 'set_field': {
          const d = fieldDef(a.field);
          pkt.set(d.name, toBig(d, a.value), a.mask === undefined ? undefined : toBig(d, a.mask));
          break;
        }
        case 'reg_load':
          pkt.setBits(a.dst, a.ofs, a.nBits, a.value);
          break;
        case 'reg_move':
          pkt.setBits(a.dst, a.dstOfs, a.nBits, pkt.bits(a.src, a.srcOfs, a.nBits));
          break;
        case 'set_tunnel':
          pkt.set('tun_id', a.tunId);
          break;
        case 'push_vlan':
          pkt.set('vlan_vid', 0x1000n); // OFPVID_PRESENT, VID 0 until a set_field
          break;
        case 'pop_vlan':
          pkt.fields.delete('vlan_vid');
          pkt.fields.delete('vlan_pcp');
          break;
        case 'dec_nw_ttl':
        case 'dec_ttl': {
          const ttl = pkt.get('ip_ttl');
          if (ttl <= 1n) {
            // OVS: dec_ttl sends the packet to the controller (reason invalid_ttl); dec_nw_ttl drops it.
            if (a.type === 'dec_ttl') trace.outputs.push({ port: 'controller', packet: pkt.view(), reason: 'invalid_ttl' });
            return 'exit';
          }
          pkt.set('ip_ttl', ttl - 1n);
          break;
        }
        case 'resubmit': {
          if (depth + 1 > MAX_RESUBMIT_DEPTH) throw new Error('fake table: resubmit depth exceeded (a loop?)');
          const saved = pkt.get('in_port');
          if (a.port !== undefined && a.port !== 'in_port') pkt.set('in_port', BigInt(portNumber(a.port)));
          const r = this.runTable(a.table ?? 0, pkt, trace, new Map(), depth + 1);
          pkt.set('in_port', saved);
          if (r === 'exit') return 'exit';
          break;
        }
        case 'group': {
          const g = this.groups.get(a.groupId);
          if (!g) throw new Error(`fake table: no group ${a.groupId}`);
          const type = typeof g.groupType === 'number' ? GROUP_TYPES[g.groupType] : g.groupType;
          const buckets = type === 'all' ? g.buckets : g.buckets.slice(0, 1);
          for (const b of buckets) this.runActions(b.actions, pkt.clone(), trace, depth + 1);
          break;
        }
        case 'exit':
          return 'exit';
        case 'note':
          break;
        case 'ct': {
          if (depth + 1 > MAX_RESUBMIT_DEPTH) throw new Error('fake table: recirculation depth exceeded (a loop?)');
          const zone = a.zoneSrc === undefined ? BigInt(a.zone) : pkt.bits(a.zoneSrc, a.zone >> 6, (a.zone & 0x3f) + 1);
          const found = this.conntrack.lookup(zone, pkt);
          pkt.set('ct_state', found.state);
          pkt.set('ct_zone', zone);
          pkt.set('ct_mark', found.conn?.mark ?? 0n);
          const nat = a.actions.find((x) => x.type === 'nat');
          let conn = found.conn;
          if (a.flags & 1) {
            conn ??= { mark: 0n };
            this.conntrack.connections.set(found.key, conn);
            // A new connection committed with nat(src=…)/nat(dst=…) gets that NAT; an existing one keeps its own.
            if (!found.conn && nat && nat.flags & 3 && nat.ipv4Min)
              this.conntrack.setNat(zone, conn, pkt, nat.flags & 1 ? 'src' : 'dst', toBig(fieldDef('ipv4_src'), nat.ipv4Min));
            for (const x of a.actions) {
              if (x.type === 'nat') continue;
              if (x.type !== 'reg_load' || fieldDef(x.dst).name !== 'ct_mark')
                throw new Error(`fake table: unsupported ct exec action ${x.type}`);
              const m = ones(x.nBits) << BigInt(x.ofs);
              conn.mark = (conn.mark & ~m) | ((x.value << BigInt(x.ofs)) & m);
            }
            pkt.set('ct_mark', conn.mark);
          } else if (a.actions.some((x) => x.type !== 'nat')) throw new Error('fake table: ct exec actions without commit');
          // nat: the packet of a NATed connection is translated (both directions); without nat, it is left alone.
          if (nat && conn) Conntrack.translate(conn, pkt, found.reply === true);
          if (a.recircTable !== 255 && this.runTable(a.recircTable, pkt, trace, new Map(), depth + 1) === 'exit') return 'exit';
          break;
        }
        case 'conjunction':
          throw new Error('fake table: a conjunction action ran (a soft flow was taken as a hard one)');
        default:
          throw new Error(`fake table: unsupported action ${a.type}`);
      }
    }
    return undefined;
  }
}

type ConjunctionAction = Extract<Action, { type: 'conjunction' }>;

/** The conjunction actions of a soft flow (only conjunction actions), or undefined for an ordinary flow. */
function conjunctions(f: TableFlow): ConjunctionAction[] | undefined {
  if (f.instructions.length !== 1) return undefined;
  const [ins] = f.instructions;
  if (ins!.type !== 'apply_actions' || ins!.actions.length === 0) return undefined;
  return ins!.actions.every((a) => a.type === 'conjunction') ? (ins!.actions as ConjunctionAction[]) : undefined;
}

function stableInstructions(f: TableFlow): string {
  return JSON.stringify(f.instructions, (_k, v: unknown) =>
    typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('hex') : v,
  );
}
