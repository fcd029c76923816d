/** ofp_instruction lists. */
import { readActions, writeActions } from './actions.js';
import type { Reader } from './reader.js';
import type { Instruction } from './types.js';
import type { Writer } from './writer.js';

export const OFPIT = {
  GOTO_TABLE: 1,
  WRITE_METADATA: 2,
  WRITE_ACTIONS: 3,
  APPLY_ACTIONS: 4,
  CLEAR_ACTIONS: 5,
  METER: 6,
} as const;

function fixedLen(i: Reader, type: number, len: number, want: number, start: number): void {
  if (len !== want) i.fail(`instruction ${type} has length ${len}, expected ${want}`, start + 2);
}

export function readInstructions(r: Reader, len: number): Instruction[] {
  const s = r.sub(len, 'instructions');
  const out: Instruction[] = [];
  while (s.pos < s.end) {
    const start = s.pos;
    s.need(4, 'instruction header');
    const type = s.u16();
    const ilen = s.u16();
    if (ilen < 8 || (ilen & 7) !== 0) s.fail(`bad instruction length ${ilen}`, start + 2);
    s.pos = start;
    const i = s.sub(ilen, 'instruction');
    i.pos = start + 4;
    switch (type) {
      case OFPIT.GOTO_TABLE: {
        fixedLen(i, type, ilen, 8, start);
        const tableId = i.u8();
        i.pad(3);
        out.push({ type: 'goto_table', tableId });
        break;
      }
      case OFPIT.WRITE_METADATA: {
        fixedLen(i, type, ilen, 24, start);
        i.pad(4);
        out.push({ type: 'write_metadata', metadata: i.u64(), mask: i.u64() });
        break;
      }
      case OFPIT.WRITE_ACTIONS:
      case OFPIT.APPLY_ACTIONS: {
        i.pad(4);
        const actions = readActions(i, i.remaining());
        out.push({ type: type === OFPIT.APPLY_ACTIONS ? 'apply_actions' : 'write_actions', actions });
        break;
      }
      case OFPIT.CLEAR_ACTIONS:
        fixedLen(i, type, ilen, 8, start);
        i.pad(4);
        out.push({ type: 'clear_actions' });
        break;
      case OFPIT.METER:
        fixedLen(i, type, ilen, 8, start);
        out.push({ type: 'meter', meterId: i.u32() });
        break;
      default:
        out.push({ type: 'unknown', raw: Buffer.from(s.buf.subarray(start, start + ilen)) });
    }
  }
  return out;
}

export function writeInstructions(w: Writer, list: readonly Instruction[]): void {
  for (let k = 0; k < list.length; k++) {
    const ins = list[k]!;
    switch (ins.type) {
      case 'goto_table':
        w.u16(OFPIT.GOTO_TABLE);
        w.u16(8);
        w.u8(ins.tableId);
        w.zero(3);
        break;
      case 'write_metadata':
        w.u16(OFPIT.WRITE_METADATA);
        w.u16(24);
        w.zero(4);
        w.u64(ins.metadata);
        w.u64(ins.mask);
        break;
      case 'write_actions':
      case 'apply_actions': {
        const start = w.pos;
        w.u16(ins.type === 'apply_actions' ? OFPIT.APPLY_ACTIONS : OFPIT.WRITE_ACTIONS);
        w.u16(0);
        w.zero(4);
        writeActions(w, ins.actions);
        w.finish(start);
        break;
      }
      case 'clear_actions':
        w.u16(OFPIT.CLEAR_ACTIONS);
        w.u16(8);
        w.zero(4);
        break;
      case 'meter':
        w.u16(OFPIT.METER);
        w.u16(8);
        w.u32(ins.meterId);
        break;
      case 'unknown':
        w.bytes(ins.raw);
        break;
    }
  }
}
