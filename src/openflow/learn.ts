/** NXAST_LEARN: a flow template that adds flows from the data path. */
import { readFieldRef, writeFieldRef } from './nicira-actions.js';
import type { Reader } from './reader.js';
import type { Action, LearnAction, LearnSpec } from './types.js';
import type { Writer } from './writer.js';

const KINDS = ['match', 'load', 'output'] as const;

export function readLearn(r: Reader): Action {
  const idleTimeout = r.u16(),
    hardTimeout = r.u16(),
    priority = r.u16();
  const cookie = r.u64();
  const flags = r.u16(),
    tableId = r.u8();
  r.pad(1);
  const finIdleTimeout = r.u16(),
    finHardTimeout = r.u16();
  const specs: LearnSpec[] = [];
  while (r.remaining() >= 2) {
    const at = r.pos;
    const h = r.u16();
    if (h === 0) {
      r.pos = at;
      break;
    }
    const nBits = h & 0x3ff;
    const srcImm = (h >> 13) & 1;
    const dstType = (h >> 11) & 3;
    if (dstType === 3 || (h & 0xc000) !== 0 || nBits === 0) r.fail('bad learn spec header', at);
    const kind = KINDS[dstType]!;
    const src = srcImm ? { value: r.copy(2 * Math.ceil(nBits / 16), 'learn immediate') } : { field: readFieldRef(r), ofs: r.u16() };
    const spec: LearnSpec = { kind, nBits, src };
    if (kind !== 'output') spec.dst = { field: readFieldRef(r), ofs: r.u16() };
    specs.push(spec);
  }
  r.pad(r.remaining());
  return { type: 'learn', idleTimeout, hardTimeout, priority, cookie, flags, tableId, finIdleTimeout, finHardTimeout, specs };
}

export function writeLearn(w: Writer, a: LearnAction): void {
  w.u16(a.idleTimeout);
  w.u16(a.hardTimeout);
  w.u16(a.priority);
  w.u64(a.cookie);
  w.u16(a.flags);
  w.u8(a.tableId);
  w.zero(1);
  w.u16(a.finIdleTimeout);
  w.u16(a.finHardTimeout);
  for (const s of a.specs) {
    const imm = 'value' in s.src;
    w.u16((imm ? 1 << 13 : 0) | (KINDS.indexOf(s.kind) << 11) | s.nBits);
    if ('value' in s.src) w.bytes(s.src.value);
    else {
      writeFieldRef(w, s.src.field);
      w.u16(s.src.ofs);
    }
    if (s.kind !== 'output') {
      if (!s.dst) throw new TypeError(`learn ${s.kind} spec needs dst`);
      writeFieldRef(w, s.dst.field);
      w.u16(s.dst.ofs);
    }
  }
}
