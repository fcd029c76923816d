/** OpenFlow 1.3 action lists (ofp_action_*), dispatching experimenter actions to the Nicira codec. */
import { NX_VENDOR_ID, RESERVED_PORTS, type ReservedPortName } from './constants.js';
import { readNxAction, writeNxAction, isNxAction } from './nicira-actions.js';
import { readOxm, writeField } from './oxm.js';
import type { Reader } from './reader.js';
import type { Action, FieldValue, PortRef } from './types.js';
import { writeU32, type Writer } from './writer.js';

export const OFPAT = {
  OUTPUT: 0,
  COPY_TTL_OUT: 11,
  COPY_TTL_IN: 12,
  SET_MPLS_TTL: 15,
  DEC_MPLS_TTL: 16,
  PUSH_VLAN: 17,
  POP_VLAN: 18,
  PUSH_MPLS: 19,
  POP_MPLS: 20,
  SET_QUEUE: 21,
  GROUP: 22,
  SET_NW_TTL: 23,
  DEC_NW_TTL: 24,
  SET_FIELD: 25,
  PUSH_PBB: 26,
  POP_PBB: 27,
  EXPERIMENTER: 0xffff,
} as const;

const PORT_NAMES = new Map<number, ReservedPortName>(Object.entries(RESERVED_PORTS).map(([k, v]) => [v, k as ReservedPortName]));

export function portFromWire(n: number): PortRef {
  return PORT_NAMES.get(n) ?? n;
}

export function portToWire(p: PortRef): number {
  if (typeof p === 'number') return p;
  const n = RESERVED_PORTS[p];
  if (n === undefined) throw new TypeError(`unknown reserved port '${String(p)}'`);
  return n;
}

/** Reads `len` bytes of actions. */
export function readActions(r: Reader, len: number): Action[] {
  const sub = r.sub(len, 'action list');
  const out: Action[] = [];
  while (sub.pos < sub.end) out.push(readAction(sub));
  return out;
}

function fixedLen(a: Reader, type: number, len: number, want: number, start: number): void {
  if (len !== want) a.fail(`action type ${type} has length ${len}, expected ${want}`, start + 2);
}

function readAction(r: Reader): Action {
  const start = r.pos;
  r.need(4, 'action header');
  const type = r.u16();
  const len = r.u16();
  if (len < 8 || (len & 7) !== 0) r.fail(`bad action length ${len}`, start + 2);
  r.pos = start;
  const a = r.sub(len, 'action');
  a.pos = start + 4;
  switch (type) {
    case OFPAT.OUTPUT: {
      fixedLen(a, type, len, 16, start);
      const port = portFromWire(a.u32());
      const maxLen = a.u16();
      a.pad(6);
      return { type: 'output', port, maxLen };
    }
    case OFPAT.COPY_TTL_OUT:
      fixedLen(a, type, len, 8, start);
      a.pad(4);
      return { type: 'copy_ttl_out' };
    case OFPAT.COPY_TTL_IN:
      fixedLen(a, type, len, 8, start);
      a.pad(4);
      return { type: 'copy_ttl_in' };
    case OFPAT.DEC_MPLS_TTL:
      fixedLen(a, type, len, 8, start);
      a.pad(4);
      return { type: 'dec_mpls_ttl' };
    case OFPAT.POP_VLAN:
      fixedLen(a, type, len, 8, start);
      a.pad(4);
      return { type: 'pop_vlan' };
    case OFPAT.DEC_NW_TTL:
      fixedLen(a, type, len, 8, start);
      a.pad(4);
      return { type: 'dec_nw_ttl' };
    case OFPAT.POP_PBB:
      fixedLen(a, type, len, 8, start);
      a.pad(4);
      return { type: 'pop_pbb' };
    case OFPAT.SET_MPLS_TTL: {
      fixedLen(a, type, len, 8, start);
      const ttl = a.u8();
      a.pad(3);
      return { type: 'set_mpls_ttl', ttl };
    }
    case OFPAT.SET_NW_TTL: {
      fixedLen(a, type, len, 8, start);
      const ttl = a.u8();
      a.pad(3);
      return { type: 'set_nw_ttl', ttl };
    }
    case OFPAT.PUSH_VLAN: {
      fixedLen(a, type, len, 8, start);
      const ethertype = a.u16();
      a.pad(2);
      return { type: 'push_vlan', ethertype };
    }
    case OFPAT.PUSH_MPLS: {
      fixedLen(a, type, len, 8, start);
      const ethertype = a.u16();
      a.pad(2);
      return { type: 'push_mpls', ethertype };
    }
    case OFPAT.POP_MPLS: {
      fixedLen(a, type, len, 8, start);
      const ethertype = a.u16();
      a.pad(2);
      return { type: 'pop_mpls', ethertype };
    }
    case OFPAT.PUSH_PBB: {
      fixedLen(a, type, len, 8, start);
      const ethertype = a.u16();
      a.pad(2);
      return { type: 'push_pbb', ethertype };
    }
    case OFPAT.SET_QUEUE:
      fixedLen(a, type, len, 8, start);
      return { type: 'set_queue', queueId: a.u32() };
    case OFPAT.GROUP:
      fixedLen(a, type, len, 8, start);
      return { type: 'group', groupId: a.u32() };
    case OFPAT.SET_FIELD: {
      if (a.remaining() < 4) a.fail('truncated set_field');
      const hdrLen = a.buf[a.pos + 3]!;
      const f = readOxm(a);
      a.pad(a.end - a.pos);
      // The OXM must be the first thing that fits; anything OpenFlow can't express as a known field stays raw.
      if (f.field === 'unknown' || 'mask' in f || len !== ((8 + hdrLen + 7) & ~7)) {
        return { type: 'unknown', raw: Buffer.from(r.buf.subarray(start, start + len)) };
      }
      return { type: 'set_field', field: f.field, value: (f as { value: FieldValue }).value };
    }
    case OFPAT.EXPERIMENTER: {
      if (len >= 16) {
        const vendor = a.u32();
        if (vendor === NX_VENDOR_ID) {
          const nx = readNxAction(a, start);
          if (nx) return nx;
        }
      }
      return { type: 'unknown', raw: Buffer.from(r.buf.subarray(start, start + len)) };
    }
    default:
      return { type: 'unknown', raw: Buffer.from(r.buf.subarray(start, start + len)) };
  }
}

export function writeActions(w: Writer, actions: readonly Action[]): void {
  for (let i = 0; i < actions.length; i++) writeAction(w, actions[i]!);
}

function simple(w: Writer, type: number): void {
  w.u16(type);
  w.u16(8);
  w.zero(4);
}

function u16Action(w: Writer, type: number, v: number): void {
  w.u16(type);
  w.u16(8);
  w.u16(v);
  w.zero(2);
}

export function writeAction(w: Writer, a: Action): void {
  switch (a.type) {
    case 'output': {
      w.ensure(16);
      const port = typeof a.port === 'number' ? a.port : portToWire(a.port);
      const b = w.buf,
        p = w.pos;
      b[p] = 0;
      b[p + 1] = OFPAT.OUTPUT;
      b[p + 2] = 0;
      b[p + 3] = 16;
      writeU32(b, p + 4, port);
      const maxLen = a.maxLen ?? (port === RESERVED_PORTS.controller ? 0xffff : 0);
      if ((maxLen & 0xffff) !== maxLen) throw new RangeError(`max_len out of range: ${maxLen}`);
      b[p + 8] = maxLen >>> 8;
      b[p + 9] = maxLen;
      for (let i = 10; i < 16; i++) b[p + i] = 0;
      w.pos = p + 16;
      return;
    }
    case 'set_field': {
      // OpenFlow 1.3 has no masked set_field; OVS takes it as NXAST_REG_LOAD2.
      if (a.mask !== undefined) return writeNxAction(w, a);
      const start = w.pos;
      w.u16(OFPAT.SET_FIELD);
      w.u16(0);
      writeField(w, a.field, a.value, undefined);
      w.align8(start);
      w.finish(start);
      return;
    }
    case 'copy_ttl_out':
      return simple(w, OFPAT.COPY_TTL_OUT);
    case 'copy_ttl_in':
      return simple(w, OFPAT.COPY_TTL_IN);
    case 'dec_mpls_ttl':
      return simple(w, OFPAT.DEC_MPLS_TTL);
    case 'pop_vlan':
      return simple(w, OFPAT.POP_VLAN);
    case 'dec_nw_ttl':
      return simple(w, OFPAT.DEC_NW_TTL);
    case 'pop_pbb':
      return simple(w, OFPAT.POP_PBB);
    case 'set_mpls_ttl':
      w.u16(OFPAT.SET_MPLS_TTL);
      w.u16(8);
      w.u8(a.ttl);
      w.zero(3);
      return;
    case 'set_nw_ttl':
      w.u16(OFPAT.SET_NW_TTL);
      w.u16(8);
      w.u8(a.ttl);
      w.zero(3);
      return;
    case 'push_vlan':
      return u16Action(w, OFPAT.PUSH_VLAN, a.ethertype);
    case 'push_mpls':
      return u16Action(w, OFPAT.PUSH_MPLS, a.ethertype);
    case 'pop_mpls':
      return u16Action(w, OFPAT.POP_MPLS, a.ethertype);
    case 'push_pbb':
      return u16Action(w, OFPAT.PUSH_PBB, a.ethertype);
    case 'set_queue':
      w.u16(OFPAT.SET_QUEUE);
      w.u16(8);
      w.u32(a.queueId);
      return;
    case 'group':
      w.u16(OFPAT.GROUP);
      w.u16(8);
      w.u32(a.groupId);
      return;
    case 'unknown':
      w.bytes(a.raw);
      return;
    default:
      if (isNxAction(a)) return writeNxAction(w, a);
      throw new TypeError(`cannot encode action ${(a as { type: string }).type}`);
  }
}
