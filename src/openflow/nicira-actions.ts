/**
 * Nicira (OVS) extension actions, vendor 0x2320. Decoding is verified by re-encoding: an action whose bytes we
 * would not reproduce exactly (odd padding, unusual property order, experimenter field headers …) is handed
 * back as undefined so the caller keeps it opaque — it still round-trips and never breaks the message.
 */
import { NX_VENDOR_ID } from './constants.js';
import { fieldByHeader } from './fields.js';
import { fieldDef, readOxm, writeOxm } from './oxm.js';
import { readActions, writeActions, portFromWire, portToWire } from './actions.js';
import { readLearn, writeLearn } from './learn.js';
import type { Reader } from './reader.js';
import type { Action, CtAction, FieldValue, NatAction, PortRef } from './types.js';
import { readIpv4, readIpv6 } from '../net/addr.js';
import { writeIpv4, writeIpv6 } from './values.js';
import { Writer } from './writer.js';

export const NXAST = {
  RESUBMIT: 1,
  SET_TUNNEL: 2,
  POP_QUEUE: 5,
  REG_MOVE: 6,
  REG_LOAD: 7,
  NOTE: 8,
  SET_TUNNEL64: 9,
  RESUBMIT_TABLE: 14,
  OUTPUT_REG: 15,
  LEARN: 16,
  EXIT: 17,
  DEC_TTL: 18,
  FIN_TIMEOUT: 19,
  CONTROLLER: 20,
  DEC_TTL_CNT_IDS: 21,
  STACK_PUSH: 27,
  STACK_POP: 28,
  SAMPLE: 29,
  OUTPUT_REG2: 32,
  REG_LOAD2: 33,
  CONJUNCTION: 34,
  CT: 35,
  NAT: 36,
  CONTROLLER2: 37,
  SAMPLE2: 38,
  OUTPUT_TRUNC: 39,
  SAMPLE3: 41,
  CT_CLEAR: 43,
  RESUBMIT_TABLE_CT: 44,
} as const;

const NX_TYPES = new Set([
  'resubmit',
  'reg_move',
  'reg_load',
  'set_tunnel',
  'pop_queue',
  'note',
  'output_reg',
  'learn',
  'exit',
  'dec_ttl',
  'fin_timeout',
  'controller',
  'stack_push',
  'stack_pop',
  'sample',
  'conjunction',
  'ct',
  'nat',
  'output_trunc',
  'ct_clear',
  'set_field',
]);

export function isNxAction(a: Action): boolean {
  return NX_TYPES.has(a.type);
}

/** OpenFlow 1.0 16-bit port numbers (used inside Nicira actions) to 32-bit. */
function port16(v: number): PortRef {
  return portFromWire(v >= 0xff00 ? (v + 0xffff0000) >>> 0 : v);
}
function toPort16(p: PortRef): number {
  const n = portToWire(p);
  return n >= 0xffffff00 ? n - 0xffff0000 : n;
}

export function readFieldRef(r: Reader): string {
  const at = r.pos;
  const h = r.u32();
  const def = fieldByHeader(h);
  if (!def || (h & 0x1ff) !== def.len) r.fail(`unsupported field header 0x${h.toString(16)}`, at);
  return def.name;
}

export function writeFieldRef(w: Writer, name: string): void {
  w.u32(fieldDef(name).header);
}

const ofsNbits = (ofs: number, nBits: number): number => (ofs << 6) | (nBits - 1);

/** `r` is positioned just after the vendor id; `start` is the action's first byte. */
export function readNxAction(r: Reader, start: number): Action | undefined {
  const raw = r.buf.subarray(start, r.end);
  let a: Action;
  try {
    a = decode(r);
    const w = new Writer(raw.length + 8);
    writeNxAction(w, a);
    if (!w.result().equals(raw)) return undefined;
  } catch {
    return undefined;
  }
  return a;
}

function decode(r: Reader): Action {
  const subtype = r.u16();
  switch (subtype) {
    case NXAST.RESUBMIT: {
      const p = r.u16();
      r.pad(4);
      return p === 0xfff8 ? { type: 'resubmit' } : { type: 'resubmit', port: port16(p) };
    }
    case NXAST.RESUBMIT_TABLE:
    case NXAST.RESUBMIT_TABLE_CT: {
      const p = r.u16();
      const table = r.u8();
      r.pad(3);
      const a: Extract<Action, { type: 'resubmit' }> = { type: 'resubmit', table };
      if (p !== 0xfff8) a.port = port16(p);
      if (subtype === NXAST.RESUBMIT_TABLE_CT) a.ct = true;
      return a;
    }
    case NXAST.SET_TUNNEL:
      r.pad(2);
      return { type: 'set_tunnel', tunId: BigInt(r.u32()) };
    case NXAST.SET_TUNNEL64:
      r.pad(6);
      return { type: 'set_tunnel', tunId: r.u64(), wide: true };
    case NXAST.POP_QUEUE:
      r.pad(6);
      return { type: 'pop_queue' };
    case NXAST.EXIT:
      r.pad(6);
      return { type: 'exit' };
    case NXAST.DEC_TTL:
      r.pad(6);
      return { type: 'dec_ttl' };
    case NXAST.CT_CLEAR:
      r.pad(6);
      return { type: 'ct_clear' };
    case NXAST.REG_MOVE: {
      const nBits = r.u16(),
        srcOfs = r.u16(),
        dstOfs = r.u16();
      const src = readFieldRef(r),
        dst = readFieldRef(r);
      return { type: 'reg_move', src, dst, nBits, srcOfs, dstOfs };
    }
    case NXAST.REG_LOAD: {
      const on = r.u16();
      const dst = readFieldRef(r);
      return { type: 'reg_load', dst, ofs: on >> 6, nBits: (on & 0x3f) + 1, value: r.u64() };
    }
    case NXAST.REG_LOAD2: {
      const f = readOxm(r);
      if (f.field === 'unknown' || f.value === undefined || f.mask === undefined) throw new Error('reg_load2 kept opaque');
      return { type: 'set_field', field: f.field, value: f.value, mask: f.mask };
    }
    case NXAST.NOTE:
      return { type: 'note', data: r.copy(r.remaining()) };
    case NXAST.OUTPUT_REG: {
      const on = r.u16();
      const src = readFieldRef(r);
      const maxLen = r.u16();
      r.pad(6);
      return { type: 'output_reg', src, ofs: on >> 6, nBits: (on & 0x3f) + 1, maxLen };
    }
    case NXAST.OUTPUT_REG2: {
      const on = r.u16(),
        maxLen = r.u16();
      const src = readFieldRef(r);
      return { type: 'output_reg', src, ofs: on >> 6, nBits: (on & 0x3f) + 1, maxLen, v2: true };
    }
    case NXAST.LEARN:
      return readLearn(r);
    case NXAST.DEC_TTL_CNT_IDS: {
      const n = r.u16();
      r.pad(4);
      r.need(2 * n, 'controller ids');
      const controllerIds: number[] = [];
      for (let i = 0; i < n; i++) controllerIds.push(r.u16());
      return { type: 'dec_ttl', controllerIds };
    }
    case NXAST.FIN_TIMEOUT: {
      const idleTimeout = r.u16(),
        hardTimeout = r.u16();
      r.pad(2);
      return { type: 'fin_timeout', idleTimeout, hardTimeout };
    }
    case NXAST.CONTROLLER: {
      const maxLen = r.u16(),
        controllerId = r.u16(),
        reason = r.u8();
      r.pad(1);
      return { type: 'controller', maxLen, controllerId, reason };
    }
    case NXAST.CONTROLLER2:
      return readController2(r);
    case NXAST.STACK_PUSH:
    case NXAST.STACK_POP: {
      const ofs = r.u16();
      const field = readFieldRef(r);
      const nBits = r.u16();
      r.pad(6);
      return { type: subtype === NXAST.STACK_PUSH ? 'stack_push' : 'stack_pop', field, ofs, nBits };
    }
    case NXAST.SAMPLE:
    case NXAST.SAMPLE2:
    case NXAST.SAMPLE3: {
      const probability = r.u16(),
        collectorSetId = r.u32(),
        obsDomainId = r.u32(),
        obsPointId = r.u32();
      if (subtype === NXAST.SAMPLE) return { type: 'sample', probability, collectorSetId, obsDomainId, obsPointId };
      const samplingPort = r.u16(),
        direction = r.u8();
      // Only sample3 carries a direction; sample2 has padding there (the re-encode check enforces zero).
      if (subtype === NXAST.SAMPLE2) return { type: 'sample', probability, collectorSetId, obsDomainId, obsPointId, samplingPort };
      return { type: 'sample', probability, collectorSetId, obsDomainId, obsPointId, samplingPort, direction };
    }
    case NXAST.CONJUNCTION: {
      const clause = r.u8(),
        nClauses = r.u8();
      return { type: 'conjunction', id: r.u32(), clause: clause + 1, nClauses };
    }
    case NXAST.CT: {
      const flags = r.u16();
      const srcAt = r.pos;
      const zoneHeader = r.u32();
      let zoneSrc: string | undefined;
      if (zoneHeader !== 0) {
        r.pos = srcAt;
        zoneSrc = readFieldRef(r);
      }
      const zone = r.u16(),
        recircTable = r.u8();
      r.pad(3);
      const alg = r.u16();
      const actions = readActions(r, r.remaining());
      const ct: CtAction = { type: 'ct', flags, zone, recircTable, alg, actions };
      if (zoneSrc) ct.zoneSrc = zoneSrc;
      return ct;
    }
    case NXAST.NAT: {
      r.pad(2);
      const flags = r.u16(),
        present = r.u16();
      const n: NatAction = { type: 'nat', flags };
      if (present & 1) {
        n.ipv4Min = readIpv4(r.bytes(4), 0);
      }
      if (present & 2) {
        n.ipv4Max = readIpv4(r.bytes(4), 0);
      }
      if (present & 4) {
        n.ipv6Min = readIpv6(r.bytes(16), 0);
      }
      if (present & 8) {
        n.ipv6Max = readIpv6(r.bytes(16), 0);
      }
      if (present & 16) n.protoMin = r.u16();
      if (present & 32) n.protoMax = r.u16();
      return n;
    }
    case NXAST.OUTPUT_TRUNC: {
      const port = port16(r.u16());
      return { type: 'output_trunc', port, maxLen: r.u32() };
    }
    default:
      throw new Error(`unmodelled Nicira action ${subtype}`);
  }
}

function readController2(r: Reader): Action {
  r.pad(6);
  const a: Extract<Action, { type: 'controller' }> = { type: 'controller', maxLen: 0xffff, v2: true };
  while (r.remaining() > 0) {
    const at = r.pos;
    const type = r.u16(),
      len = r.u16();
    if (len < 4) r.fail('bad controller2 property length', at);
    const body = r.sub(len - 4, 'controller2 property');
    r.pad(((len + 7) & ~7) - len);
    switch (type) {
      case 0:
        a.maxLen = body.u16();
        break;
      case 1:
        a.controllerId = body.u16();
        break;
      case 2:
        a.reason = body.u8();
        break;
      case 3:
        a.userdata = Buffer.from(body.rest());
        break;
      case 4:
        a.pause = true;
        break;
      default:
        r.fail(`unknown controller2 property ${type}`, at);
    }
  }
  return a;
}

function nxStart(w: Writer, subtype: number): number {
  const start = w.pos;
  w.u16(0xffff);
  w.u16(0);
  w.u32(NX_VENDOR_ID);
  w.u16(subtype);
  return start;
}

function nxEnd(w: Writer, start: number): void {
  w.align8(start);
  w.finish(start);
}

function prop(w: Writer, type: number, body: (w: Writer) => void): void {
  const at = w.pos;
  w.u16(type);
  w.u16(0);
  body(w);
  w.finish(at);
  w.align8(at);
}

export function writeNxAction(w: Writer, a: Action): void {
  let s: number;
  switch (a.type) {
    case 'resubmit': {
      const p = a.port === undefined ? 0xfff8 : toPort16(a.port);
      if (a.table === undefined && !a.ct) {
        s = nxStart(w, NXAST.RESUBMIT);
        w.u16(p);
        w.zero(4);
        break;
      }
      s = nxStart(w, a.ct ? NXAST.RESUBMIT_TABLE_CT : NXAST.RESUBMIT_TABLE);
      w.u16(p);
      w.u8(a.table ?? 0xff);
      w.zero(3);
      break;
    }
    case 'set_tunnel':
      if (a.wide || a.tunId > 0xffffffffn) {
        s = nxStart(w, NXAST.SET_TUNNEL64);
        w.zero(6);
        w.u64(a.tunId);
      } else {
        s = nxStart(w, NXAST.SET_TUNNEL);
        w.zero(2);
        w.u32(Number(a.tunId));
      }
      break;
    case 'pop_queue':
      s = nxStart(w, NXAST.POP_QUEUE);
      w.zero(6);
      break;
    case 'exit':
      s = nxStart(w, NXAST.EXIT);
      w.zero(6);
      break;
    case 'ct_clear':
      s = nxStart(w, NXAST.CT_CLEAR);
      w.zero(6);
      break;
    case 'dec_ttl':
      // Plain dec_ttl is OFPAT_DEC_NW_TTL in OpenFlow 1.3 (OVS accepts NXAST_DEC_TTL only in 1.0).
      if (!a.controllerIds) {
        w.u16(24);
        w.u16(8);
        w.zero(4);
        return;
      }
      s = nxStart(w, NXAST.DEC_TTL_CNT_IDS);
      w.u16(a.controllerIds.length);
      w.zero(4);
      for (const id of a.controllerIds) w.u16(id);
      break;
    case 'reg_move':
      s = nxStart(w, NXAST.REG_MOVE);
      w.u16(a.nBits);
      w.u16(a.srcOfs);
      w.u16(a.dstOfs);
      writeFieldRef(w, a.src);
      writeFieldRef(w, a.dst);
      break;
    case 'reg_load':
      s = nxStart(w, NXAST.REG_LOAD);
      w.u16(ofsNbits(a.ofs, a.nBits));
      writeFieldRef(w, a.dst);
      w.u64(a.value);
      break;
    case 'set_field':
      s = nxStart(w, NXAST.REG_LOAD2);
      writeOxm(w, { field: a.field, value: a.value as FieldValue, mask: a.mask as FieldValue });
      break;
    case 'note':
      s = nxStart(w, NXAST.NOTE);
      w.bytes(a.data);
      break;
    case 'output_reg':
      if (a.v2) {
        s = nxStart(w, NXAST.OUTPUT_REG2);
        w.u16(ofsNbits(a.ofs, a.nBits));
        w.u16(a.maxLen);
        writeFieldRef(w, a.src);
      } else {
        s = nxStart(w, NXAST.OUTPUT_REG);
        w.u16(ofsNbits(a.ofs, a.nBits));
        writeFieldRef(w, a.src);
        w.u16(a.maxLen);
        w.zero(6);
      }
      break;
    case 'learn':
      s = nxStart(w, NXAST.LEARN);
      writeLearn(w, a);
      break;
    case 'fin_timeout':
      s = nxStart(w, NXAST.FIN_TIMEOUT);
      w.u16(a.idleTimeout);
      w.u16(a.hardTimeout);
      w.zero(2);
      break;
    case 'controller':
      if (!a.v2 && !a.userdata && !a.pause) {
        s = nxStart(w, NXAST.CONTROLLER);
        w.u16(a.maxLen);
        w.u16(a.controllerId ?? 0);
        w.u8(a.reason ?? 1);
        w.zero(1);
        break;
      }
      s = nxStart(w, NXAST.CONTROLLER2);
      w.zero(6);
      // OVS pads 16-bit properties inside their length (len 8), unlike the 8-bit reason (len 5).
      if (a.maxLen !== 0xffff)
        prop(w, 0, (x) => {
          x.u16(a.maxLen);
          x.zero(2);
        });
      if (a.controllerId)
        prop(w, 1, (x) => {
          x.u16(a.controllerId!);
          x.zero(2);
        });
      if (a.reason !== undefined && a.reason !== 1) prop(w, 2, (x) => x.u8(a.reason!));
      if (a.userdata) prop(w, 3, (x) => x.bytes(a.userdata!));
      if (a.pause) prop(w, 4, () => undefined);
      break;
    case 'stack_push':
    case 'stack_pop':
      s = nxStart(w, a.type === 'stack_push' ? NXAST.STACK_PUSH : NXAST.STACK_POP);
      w.u16(a.ofs);
      writeFieldRef(w, a.field);
      w.u16(a.nBits);
      w.zero(6);
      break;
    case 'sample': {
      const v3 = a.direction !== undefined;
      const v2 = v3 || a.samplingPort !== undefined;
      s = nxStart(w, v3 ? NXAST.SAMPLE3 : v2 ? NXAST.SAMPLE2 : NXAST.SAMPLE);
      w.u16(a.probability);
      w.u32(a.collectorSetId);
      w.u32(a.obsDomainId);
      w.u32(a.obsPointId);
      if (v2) {
        w.u16(a.samplingPort ?? 0);
        w.u8(a.direction ?? 0);
      }
      break;
    }
    case 'conjunction':
      s = nxStart(w, NXAST.CONJUNCTION);
      w.u8(a.clause - 1);
      w.u8(a.nClauses);
      w.u32(a.id);
      break;
    case 'ct':
      s = nxStart(w, NXAST.CT);
      w.u16(a.flags);
      if (a.zoneSrc) writeFieldRef(w, a.zoneSrc);
      else w.u32(0);
      w.u16(a.zone);
      w.u8(a.recircTable);
      w.zero(3);
      w.u16(a.alg);
      writeActions(w, a.actions);
      break;
    case 'nat': {
      s = nxStart(w, NXAST.NAT);
      w.zero(2);
      w.u16(a.flags);
      const present =
        (a.ipv4Min !== undefined ? 1 : 0) |
        (a.ipv4Max !== undefined ? 2 : 0) |
        (a.ipv6Min !== undefined ? 4 : 0) |
        (a.ipv6Max !== undefined ? 8 : 0) |
        (a.protoMin !== undefined ? 16 : 0) |
        (a.protoMax !== undefined ? 32 : 0);
      w.u16(present);
      const ip4 = (v: string): void => {
        w.ensure(4);
        writeIpv4(w.buf, w.pos, v, { name: 'nat' });
        w.pos += 4;
      };
      const ip6 = (v: string): void => {
        w.ensure(16);
        writeIpv6(w.buf, w.pos, v, { name: 'nat' });
        w.pos += 16;
      };
      if (a.ipv4Min !== undefined) ip4(a.ipv4Min);
      if (a.ipv4Max !== undefined) ip4(a.ipv4Max);
      if (a.ipv6Min !== undefined) ip6(a.ipv6Min);
      if (a.ipv6Max !== undefined) ip6(a.ipv6Max);
      if (a.protoMin !== undefined) w.u16(a.protoMin);
      if (a.protoMax !== undefined) w.u16(a.protoMax);
      break;
    }
    case 'output_trunc':
      s = nxStart(w, NXAST.OUTPUT_TRUNC);
      w.u16(toPort16(a.port));
      w.u32(a.maxLen);
      break;
    default:
      throw new TypeError(`not a Nicira action: ${a.type}`);
  }
  nxEnd(w, s);
}
