/**
 * The register map and the PACKET_IN opcodes of a pipeline document (pipelines/*.yaml), parsed and checked.
 * Registers are declared once with their switch field and bits so code names them (`reg('network')`) and two
 * names can never share bits by accident; flag bits live inside a register. Opcodes say why a packet was sent
 * to the agent (after Antrea's PacketInCategory): each belongs to one app, which alone may send with it.
 */
import { PipelineError } from './errors.js';

export interface FlagDef {
  bit: number;
  purpose: string;
}

export interface RegisterDef {
  /** The switch field (metadata, reg0..reg15, xreg0..xreg7). */
  field: string;
  /** Lowest bit of the field this register uses (0 unless it shares the field with another register). */
  offset: number;
  bits: number;
  purpose: string;
  /** Named single bits of this register (flags), bit numbers relative to the register. */
  flags: Record<string, FlagDef>;
}

export interface OpcodeDef {
  name: string;
  /** Carried as a 16-bit big-endian value in the controller action's userdata. */
  id: number;
  /** The app whose handler answers it (and whose flows alone may send it). */
  owner: string;
  purpose: string;
}

const NAME = /^[a-z][a-z0-9_]*$/;

/**
 * Width in bits of the switch fields a register may live in. `ct_mark` is no register but a conntrack entry's
 * mark; declaring it here lets its bits be named flags (matched as ct_mark, written inside ct(commit, exec(...))).
 */
export function registerFieldWidth(field: string): number | undefined {
  if (field === 'metadata') return 64;
  if (field === 'ct_mark') return 32;
  const reg = /^reg(\d+)$/.exec(field);
  if (reg && Number(reg[1]) <= 15) return 32;
  const xreg = /^xreg(\d+)$/.exec(field);
  if (xreg && Number(xreg[1]) <= 7) return 64;
  return undefined;
}

/** The 32-bit registers an xreg covers (xregN = reg2N+1 : reg2N), for overlap checks. */
function physical(field: string, offset: number, bits: number): { field: string; from: number; to: number }[] {
  const x = /^xreg(\d+)$/.exec(field);
  if (!x) return [{ field, from: offset, to: offset + bits }];
  const n = Number(x[1]);
  const out: { field: string; from: number; to: number }[] = [];
  for (const [reg, base] of [
    [`reg${2 * n}`, 0],
    [`reg${2 * n + 1}`, 32],
  ] as const) {
    const from = Math.max(offset, base),
      to = Math.min(offset + bits, base + 32);
    if (from < to) out.push({ field: reg, from: from - base, to: to - base });
  }
  return out;
}

export function parseRegisters(raw: unknown, source: string): Record<string, RegisterDef> {
  if (raw === undefined) return {};
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new PipelineError(`${source}: registers must be a mapping`);
  const out: Record<string, RegisterDef> = {};
  const flagNames = new Map<string, string>();
  for (const [name, r] of Object.entries(raw as Record<string, Record<string, unknown>>)) {
    const where = `${source}: register ${name}`;
    if (!NAME.test(name)) throw new PipelineError(`${where}: name must be lower_snake_case`);
    if (!r || typeof r !== 'object' || typeof r.field !== 'string' || typeof r.bits !== 'number')
      throw new PipelineError(`${where}: needs field and bits`);
    const width = registerFieldWidth(r.field);
    if (width === undefined)
      throw new PipelineError(`${where}: unknown register field ${r.field} (metadata, reg0..reg15, xreg0..xreg7, ct_mark)`);
    const offset = r.offset === undefined ? 0 : r.offset;
    if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0)
      throw new PipelineError(`${where}: offset must be an integer >= 0`);
    if (!Number.isInteger(r.bits) || r.bits < 1 || offset + r.bits > width)
      throw new PipelineError(`${where}: bits ${offset}..${offset + r.bits - 1} do not fit ${r.field} (${width} bits)`);
    const flags: Record<string, FlagDef> = {};
    const rawFlags = (r.flags ?? {}) as Record<string, Record<string, unknown>>;
    const usedBits = new Map<number, string>();
    for (const [flag, f] of Object.entries(rawFlags)) {
      if (!NAME.test(flag)) throw new PipelineError(`${where}: flag name ${flag} must be lower_snake_case`);
      if (!f || typeof f.bit !== 'number' || !Number.isInteger(f.bit) || f.bit < 0 || f.bit >= r.bits)
        throw new PipelineError(`${where}: flag ${flag} needs a bit 0..${r.bits - 1}`);
      const clash = usedBits.get(f.bit);
      if (clash) throw new PipelineError(`${where}: flags ${clash} and ${flag} share bit ${f.bit}`);
      const twice = flagNames.get(flag);
      if (twice) throw new PipelineError(`${source}: flag ${flag} declared in registers ${twice} and ${name}`);
      usedBits.set(f.bit, flag);
      flagNames.set(flag, name);
      flags[flag] = { bit: f.bit, purpose: String(f.purpose ?? '') };
    }
    out[name] = { field: r.field, offset, bits: r.bits, purpose: String(r.purpose ?? ''), flags };
  }
  // No two registers may share a bit of the switch (xregN overlaps reg2N and reg2N+1).
  const spans = Object.entries(out).flatMap(([name, r]) => physical(r.field, r.offset, r.bits).map((s) => ({ name, ...s })));
  for (const [i, a] of spans.entries())
    for (const b of spans.slice(i + 1))
      if (a.name !== b.name && a.field === b.field && a.from < b.to && b.from < a.to)
        throw new PipelineError(`${source}: registers ${a.name} and ${b.name} overlap in ${a.field}`);
  return out;
}

export function parseOpcodes(raw: unknown, source: string, apps: Record<string, number>): Record<string, OpcodeDef> {
  if (raw === undefined) return {};
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new PipelineError(`${source}: packet_in_opcodes must be a mapping`);
  const out: Record<string, OpcodeDef> = {};
  const ids = new Map<number, string>();
  for (const [name, o] of Object.entries(raw as Record<string, Record<string, unknown>>)) {
    const where = `${source}: packet-in opcode ${name}`;
    if (!NAME.test(name)) throw new PipelineError(`${where}: name must be lower_snake_case`);
    if (!o || typeof o.id !== 'number' || !Number.isInteger(o.id) || o.id < 1 || o.id > 0xffff)
      throw new PipelineError(`${where}: id must be an integer 1..65535`);
    const clash = ids.get(o.id);
    if (clash) throw new PipelineError(`${source}: opcodes ${clash} and ${name} share id ${o.id}`);
    if (typeof o.owner !== 'string' || !(o.owner in apps) || o.owner === 'pipeline')
      throw new PipelineError(`${where}: owner must be an app with a cookie id`);
    ids.set(o.id, name);
    out[name] = { name, id: o.id, owner: o.owner, purpose: String(o.purpose ?? '') };
  }
  return out;
}

/** The controller action's userdata for an opcode: its id, 16 bits big-endian. */
export function opcodeUserdata(id: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(id);
  return b;
}

/** The opcode id a PACKET_IN's userdata carries, or undefined if it carries none we wrote. */
export function opcodeFromUserdata(userdata: Buffer | undefined): number | undefined {
  return userdata?.length === 2 ? userdata.readUInt16BE(0) : undefined;
}

/**
 * A range of OpenFlow meter ids kept for one use, indexed by a local ofport (meter id = base + ofport): ofports
 * are unique per switch, so each port gets its own meter with no allocator and no state to lose on a restart.
 */
export interface MeterRangeDef {
  name: string;
  base: number;
  /** The app whose flows alone may use (and which declares) these meters. */
  owner: string;
  purpose: string;
}

/** OpenFlow 1.3 ofports are 1..0xff00 (OFPP_MAX); OVS's userspace datapath accepts meter ids 1..262144. */
export const METER_RANGE_SIZE = 0x10000;
const MAX_METER_ID = 262_144;

export function parseMeters(raw: unknown, source: string, apps: Record<string, number>): Record<string, MeterRangeDef> {
  if (raw === undefined) return {};
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new PipelineError(`${source}: meters must be a mapping`);
  const out: Record<string, MeterRangeDef> = {};
  for (const [name, m] of Object.entries(raw as Record<string, Record<string, unknown>>)) {
    const where = `${source}: meter range ${name}`;
    if (!NAME.test(name)) throw new PipelineError(`${where}: name must be lower_snake_case`);
    if (!m || typeof m.base !== 'number' || !Number.isInteger(m.base) || m.base < 0 || m.base % METER_RANGE_SIZE !== 0)
      throw new PipelineError(`${where}: base must be a multiple of ${METER_RANGE_SIZE}`);
    if (m.base + METER_RANGE_SIZE > MAX_METER_ID) throw new PipelineError(`${where}: ids above ${MAX_METER_ID} (the switch's limit)`);
    if (typeof m.owner !== 'string' || !(m.owner in apps) || m.owner === 'pipeline')
      throw new PipelineError(`${where}: owner must be an app with a cookie id`);
    const clash = Object.values(out).find((o) => o.base === m.base);
    if (clash) throw new PipelineError(`${source}: meter ranges ${clash.name} and ${name} share base ${m.base}`);
    out[name] = { name, base: m.base, owner: m.owner, purpose: String(m.purpose ?? '') };
  }
  return out;
}

/**
 * A range of conntrack zones kept for one use (pipelines/ `ct_zones`): zone = base + key for keys 0..size-1. The
 * ranges of a pipeline never overlap, so the apps that use them (security groups per port, NAT per router) can
 * never track two unrelated connections in one zone on a host, whatever their keys.
 */
export interface CtZoneRangeDef {
  name: string;
  base: number;
  size: number;
  owner: string;
  purpose: string;
}

/** Conntrack zones are 16 bits. */
export const CT_ZONE_LIMIT = 0x10000;

export function parseCtZones(raw: unknown, source: string, apps: Record<string, number>): Record<string, CtZoneRangeDef> {
  if (raw === undefined) return {};
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new PipelineError(`${source}: ct_zones must be a mapping`);
  const out: Record<string, CtZoneRangeDef> = {};
  for (const [name, z] of Object.entries(raw as Record<string, Record<string, unknown>>)) {
    const where = `${source}: ct zone range ${name}`;
    if (!NAME.test(name)) throw new PipelineError(`${where}: name must be lower_snake_case`);
    const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
    if (!z || !int(z.base) || !int(z.size) || (z.base as number) < 0 || (z.size as number) < 1)
      throw new PipelineError(`${where}: needs an integer base >= 0 and size >= 1`);
    const base = z.base as number;
    const size = z.size as number;
    if (base + size > CT_ZONE_LIMIT) throw new PipelineError(`${where}: zones ${base}..${base + size - 1} exceed 16 bits`);
    if (typeof z.owner !== 'string' || !(z.owner in apps) || z.owner === 'pipeline')
      throw new PipelineError(`${where}: owner must be an app with a cookie id`);
    for (const o of Object.values(out))
      if (base < o.base + o.size && o.base < base + size)
        throw new PipelineError(`${source}: ct zone ranges ${o.name} and ${name} overlap`);
    out[name] = { name, base, size, owner: z.owner, purpose: String(z.purpose ?? '') };
  }
  return out;
}
