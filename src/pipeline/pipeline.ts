import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  parseCtZones,
  parseMeters,
  parseOpcodes,
  parseRegisters,
  type CtZoneRangeDef,
  type MeterRangeDef,
  type OpcodeDef,
  type RegisterDef,
} from './declarations.js';
import { PipelineError } from './errors.js';
import { parsePipelineYaml, PRECOMPILED_FILE } from './precompiled.js';

export { PipelineError };

export type { CtZoneRangeDef, FlagDef, MeterRangeDef, OpcodeDef, RegisterDef } from './declarations.js';

/** What happens to a packet that matches no flow of a table. */
export type MissBehaviour = 'drop' | 'next' | 'controller';

export interface TableDef {
  id: number;
  name: string;
  /** The app that may write this table's flows. */
  owner: string;
  purpose: string;
  miss: MissBehaviour;
  /** With miss: controller, the packet-in opcode the miss flow sends (owned by the table's owner). */
  missOpcode?: string;
  /** Tables this table's flows may go to. */
  next: string[];
  /** Match fields this table's flows may use (prerequisites such as eth_type are always allowed). */
  matches: string[];
  /** Fields this table's flows may write (set_field, move/load destinations; `metadata` for write_metadata). */
  sets: string[];
  /** Priority bands of this table's flows (priority 0 is the miss flow's); none declared: any priority. */
  bands: PriorityBand[];
}

/** A named range of priorities in one table (e.g. l3_router's `host`): the guard refuses flows outside all of them. */
export interface PriorityBand {
  name: string;
  min: number;
  max: number;
}

export interface CookieLayout {
  appShift: number;
  objectBits: number;
  apps: Record<string, number>;
}

export interface Pipeline {
  name: string;
  tables: TableDef[];
  registers: Record<string, RegisterDef>;
  cookies: CookieLayout;
  /** PACKET_IN opcodes by name (see declarations.ts). */
  opcodes: Record<string, OpcodeDef>;
  /** Meter id ranges by name (see declarations.ts). */
  meters: Record<string, MeterRangeDef>;
  /** Conntrack zone ranges by name (see declarations.ts): apps ask for a zone by range and key. */
  ctZones: Record<string, CtZoneRangeDef>;
}

/** `priorities: { name: 100, other: [1000, 1032] }`: a band is one priority or an inclusive range in 1..65535. */
function parseBands(v: unknown, where: string): PriorityBand[] {
  if (v === undefined) return [];
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new PipelineError(`${where}: priorities must map band names to a priority or [min, max]`);
  return Object.entries(v as Record<string, unknown>).map(([name, b]) => {
    const [min, max] = typeof b === 'number' ? [b, b] : Array.isArray(b) && b.length === 2 ? (b as number[]) : [NaN, NaN];
    const ok = (p: number | undefined) => Number.isInteger(p) && p! >= 1 && p! <= 0xffff;
    if (!ok(min) || !ok(max) || min! > max!)
      throw new PipelineError(`${where}: priority band ${name} must be a priority or [min, max] within 1..65535 (0 is the miss flow's)`);
    return { name, min: min!, max: max! };
  });
}

/** The pipeline shipped in `pipelines/default.yaml` (resolved relative to the package, built or not). */
export function defaultPipelinePath(): string {
  // src/pipeline/ or dist/src/pipeline/ → package root
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [`${here}../../pipelines/default.yaml`, `${here}../../../pipelines/default.yaml`];
  for (const c of candidates) {
    try {
      readFileSync(c);
      return c;
    } catch {
      /* try the next layout */
    }
  }
  throw new PipelineError(`pipelines/default.yaml not found near ${here}`);
}

export function loadPipeline(path = defaultPipelinePath()): Pipeline {
  const text = readFileSync(path, 'utf8');
  // The build's parsed copy of the YAML, used only if made from this exact text (precompiled.ts).
  return pipelineFromDoc(parsePipelineYaml(text, new URL(`./${PRECOMPILED_FILE}`, import.meta.url)), path);
}

/** Parses and validates a pipeline document; every rule violation is a PipelineError naming the table. */
export function parsePipeline(text: string, source = '<pipeline>'): Pipeline {
  return pipelineFromDoc(parsePipelineYaml(text, undefined), source);
}

/** Validates a parsed pipeline document (what the YAML parser returned). */
function pipelineFromDoc(parsed: unknown, source: string): Pipeline {
  const doc = parsed as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object') throw new PipelineError(`${source}: not a YAML mapping`);
  const rawTables = doc.tables;
  if (!Array.isArray(rawTables) || rawTables.length === 0) throw new PipelineError(`${source}: no tables`);

  const tables: TableDef[] = rawTables.map((t: Record<string, unknown>, i: number) => {
    const where = `${source}: tables[${i}]`;
    if (typeof t.id !== 'number' || !Number.isInteger(t.id) || t.id < 0 || t.id > 253)
      throw new PipelineError(`${where}: id must be an integer 0..253`);
    if (typeof t.name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(t.name)) throw new PipelineError(`${where}: name must be lower_snake_case`);
    if (typeof t.owner !== 'string') throw new PipelineError(`${where} (${t.name}): owner missing`);
    if (t.miss !== 'drop' && t.miss !== 'next' && t.miss !== 'controller')
      throw new PipelineError(`${where} (${t.name}): miss must be drop, next or controller`);
    const strings = (v: unknown, what: string): string[] => {
      if (v === undefined) return [];
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
        throw new PipelineError(`${where} (${t.name}): ${what} must be a list of names`);
      return v as string[];
    };
    return {
      id: t.id,
      name: t.name,
      owner: t.owner,
      purpose: typeof t.purpose === 'string' ? t.purpose : '',
      miss: t.miss,
      ...(typeof t.miss_opcode === 'string' ? { missOpcode: t.miss_opcode } : {}),
      next: strings(t.next, 'next'),
      matches: strings(t.matches, 'matches'),
      sets: strings(t.sets, 'sets'),
      bands: parseBands(t.priorities, `${where} (${t.name})`),
    };
  });

  const byName = new Map<string, TableDef>();
  const ids = new Set<number>();
  for (const t of tables) {
    if (byName.has(t.name)) throw new PipelineError(`${source}: table name ${t.name} declared twice`);
    if (ids.has(t.id)) throw new PipelineError(`${source}: table id ${t.id} declared twice`);
    byName.set(t.name, t);
    ids.add(t.id);
  }
  for (const [i, t] of tables.entries()) {
    if (i > 0 && t.id <= tables[i - 1]!.id) throw new PipelineError(`${source}: tables must be in ascending id order (${t.name})`);
    for (const n of t.next) {
      const target = byName.get(n);
      if (!target) throw new PipelineError(`${source}: table ${t.name} names unknown next table ${n}`);
      if (target.id <= t.id) throw new PipelineError(`${source}: table ${t.name} may only go forward, not to ${n}`);
    }
    if (t.miss === 'next' && t.next.length === 0)
      throw new PipelineError(`${source}: table ${t.name} misses to next but declares no next table`);
  }

  const registers = parseRegisters(doc.registers, source);

  const rawCookies = (doc.cookies ?? {}) as Record<string, unknown>;
  const apps = (rawCookies.apps ?? {}) as Record<string, number>;
  const cookies: CookieLayout = {
    appShift: Number(rawCookies.app_shift ?? 56),
    objectBits: Number(rawCookies.object_bits ?? 48),
    apps,
  };
  const appIds = new Set<number>();
  for (const [app, id] of Object.entries(apps)) {
    if (!Number.isInteger(id) || id < 1 || id > 255) throw new PipelineError(`${source}: cookie app id of ${app} must be 1..255`);
    if (appIds.has(id)) throw new PipelineError(`${source}: cookie app id ${id} used twice`);
    appIds.add(id);
  }
  for (const t of tables) {
    if (!(t.owner in apps)) throw new PipelineError(`${source}: owner ${t.owner} of table ${t.name} has no cookie app id`);
  }
  if (!('pipeline' in apps)) throw new PipelineError(`${source}: cookie app id for 'pipeline' (miss flows) missing`);

  const opcodes = parseOpcodes(doc.packet_in_opcodes, source, apps);
  // A miss to the agent must say why like any other flow to it, or the dispatcher could only drop it.
  for (const t of tables) {
    if (t.miss !== 'controller') continue;
    const op = t.missOpcode === undefined ? undefined : opcodes[t.missOpcode];
    if (!op || op.owner !== t.owner)
      throw new PipelineError(`${source}: table ${t.name} misses to the controller: miss_opcode must name an opcode of ${t.owner}`);
  }

  const meters = parseMeters(doc.meters, source, apps);
  const ctZones = parseCtZones(doc.ct_zones, source, apps);
  return { name: typeof doc.name === 'string' ? doc.name : 'default', tables, registers, cookies, opcodes, meters, ctZones };
}
