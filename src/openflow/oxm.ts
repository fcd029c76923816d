/** ofp_match (OXM type) and individual OXM/NXM TLVs. */
import { OfpEncodeError } from './errors.js';
import { FIELDS_BY_NAME, fieldByClass, type FieldDef } from './fields.js';
import type { Reader } from './reader.js';
import type { FieldValue, Match, MatchField } from './types.js';
import { readValue, writeValue } from './values.js';
import { writeU32, type Writer } from './writer.js';

const OFPMT_OXM = 1;

export function fieldDef(name: string): FieldDef {
  const d = FIELDS_BY_NAME.get(name);
  if (!d) throw new OfpEncodeError(`unknown match field '${name}'`);
  return d;
}

/** Reads one OXM TLV occupying the reader's next bytes. Lengths that don't fit a known field stay opaque. */
export function readOxm(r: Reader): MatchField {
  const header = r.u32();
  const len = header & 0xff;
  const hasMask = (header & 0x100) !== 0;
  const cls = header >>> 16;
  const fieldNum = (header >>> 9) & 0x7f;
  r.need(len, 'oxm payload');
  const at = r.pos;
  const def = cls === 0xffff ? undefined : fieldByClass(cls, fieldNum);
  if (def && len === (hasMask ? 2 * def.len : def.len)) {
    r.pos = at + len;
    const value = readValue(r.buf, at, def);
    return hasMask ? { field: def.name, value, mask: readValue(r.buf, at + def.len, def) } : { field: def.name, value };
  }
  return { field: 'unknown', class: cls, fieldNum, hasMask, raw: r.copy(len, 'oxm payload') };
}

export function writeOxm(w: Writer, f: MatchField): void {
  if (f.field === 'unknown') {
    const u = f as Extract<MatchField, { field: 'unknown' }>;
    w.u32(((u.class << 16) | (u.fieldNum << 9) | (u.hasMask ? 0x100 : 0) | u.raw.length) >>> 0);
    w.bytes(u.raw);
    return;
  }
  const k = f as { field: string; value: FieldValue; mask?: FieldValue };
  writeField(w, k.field, k.value, k.mask);
}

/** Writes one known field as an OXM/NXM TLV (masked when mask is given). */
export function writeField(w: Writer, field: string, value: FieldValue, mask: FieldValue | undefined): void {
  const def = fieldDef(field);
  const masked = mask !== undefined;
  const n = masked ? 2 * def.len : def.len;
  w.ensure(4 + n);
  const b = w.buf;
  const p = w.pos;
  writeU32(b, p, masked ? ((def.header | 0x100) >>> 0) + def.len : def.header);
  writeValue(b, p + 4, def, value);
  if (masked) writeValue(b, p + 4 + def.len, def, mask);
  w.pos = p + 4 + n;
}

/** Reads an ofp_match including its trailing padding to 8 bytes. */
export function readMatch(r: Reader): Match {
  const start = r.pos;
  const type = r.u16();
  if (type !== OFPMT_OXM) r.fail(`unsupported match type ${type}`, start);
  const length = r.u16();
  if (length < 4) r.fail(`match length ${length} < 4`, start + 2);
  r.need(length - 4, 'match');
  // Narrow the reader to the match instead of allocating a sub-reader (PACKET_IN decode is a hot path).
  const outerEnd = r.end;
  r.end = r.pos + length - 4;
  const fields: Match = [];
  while (r.pos < r.end) {
    if (r.end - r.pos < 4) r.fail('truncated oxm header');
    fields.push(readOxm(r));
  }
  r.end = outerEnd;
  r.pad(((length + 7) & ~7) - length);
  return fields;
}

export function writeMatch(w: Writer, match: Match): void {
  const start = w.pos;
  w.u16(OFPMT_OXM);
  w.u16(0);
  for (let i = 0; i < match.length; i++) writeOxm(w, match[i]!);
  w.finish(start);
  w.align8(start);
}
