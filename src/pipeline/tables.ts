import type { Action, Instruction, Match } from '../openflow/index.js';
import { BuiltFlow } from './built-flow.js';
import { FlowGuardError, guardFlow } from './guard.js';
import { FlowInterner } from './intern.js';
import { METER_RANGE_SIZE, opcodeUserdata, registerFieldWidth } from './declarations.js';
import { PipelineError, type OpcodeDef, type Pipeline, type TableDef } from './pipeline.js';

/** A flow an app wants on the switch. Tables are carried by name and id; only the pipeline knows ids. */
export interface DesiredFlow {
  table: string;
  tableId: number;
  priority: number;
  match: Match;
  instructions: Instruction[];
  cookie: bigint;
  idleTimeout: number;
  hardTimeout: number;
}

export interface FlowSpec {
  priority: number;
  match: Match;
  /** Apply-actions; omitted or empty with no goto means drop. */
  actions?: Action[];
  /** Next table by name; must be one the table declares. */
  goto?: string;
  /** write_metadata instruction (the network register lives in metadata). */
  writeMetadata?: { value: bigint; mask: bigint };
  /** Meter instruction: the packet passes the meter (and may be dropped by it) before the actions. */
  meter?: number;
  /** Key of the object (port, network, router …) this flow exists for; goes in the cookie. */
  object: number | bigint;
  idleTimeout?: number;
  hardTimeout?: number;
}

/**
 * The pipeline as apps see it: tables by name, guarded so an app can only write its own tables,
 * match declared fields and jump to declared next tables (after Faucet's valve_table).
 */
export class PipelineTables {
  private readonly byName = new Map<string, TableDef>();

  constructor(readonly pipeline: Pipeline) {
    for (const t of pipeline.tables) this.byName.set(t.name, t);
  }

  def(name: string): TableDef {
    const t = this.byName.get(name);
    if (!t) throw new PipelineError(`unknown table ${name}`);
    return t;
  }

  id(name: string): number {
    return this.def(name).id;
  }

  nameOf(id: number): string | undefined {
    return this.pipeline.tables.find((t) => t.id === id)?.name;
  }

  /** The switch field behind a named register (e.g. dst_port → reg7). */
  reg(name: string): string {
    const r = this.pipeline.registers[name];
    if (!r) throw new PipelineError(`unknown register ${name}`);
    // A register sharing its field would need masks and shifts everywhere: refused until code needs one.
    if (r.offset !== 0 || r.bits !== registerFieldWidth(r.field))
      throw new PipelineError(`register ${name} is part of ${r.field}; only whole-field registers are addressable`);
    return r.field;
  }

  /** A register's field and bits, for registers that share their field (ct_zone → reg4, bits 0..15). */
  regBits(name: string): { field: string; offset: number; bits: number } {
    const r = this.pipeline.registers[name];
    if (!r) throw new PipelineError(`unknown register ${name}`);
    return { field: r.field, offset: r.offset, bits: r.bits };
  }

  /** A named flag bit: its register's field and the bit as a mask (from_tunnel → reg0, 0x1). */
  flag(name: string): { field: string; mask: number | bigint } {
    for (const r of Object.values(this.pipeline.registers)) {
      const f = r.flags[name];
      if (!f) continue;
      const bit = r.offset + f.bit;
      return { field: r.field, mask: registerFieldWidth(r.field)! > 32 ? 1n << BigInt(bit) : 2 ** bit };
    }
    throw new PipelineError(`unknown flag ${name}`);
  }

  opcode(name: string): OpcodeDef {
    const o = this.pipeline.opcodes[name];
    if (!o) throw new PipelineError(`unknown packet-in opcode ${name}`);
    return o;
  }

  opcodeById(id: number): OpcodeDef | undefined {
    this.opcodeIds ??= new Map(Object.values(this.pipeline.opcodes).map((o) => [o.id, o]));
    return this.opcodeIds.get(id);
  }

  private opcodeIds: Map<number, OpcodeDef> | undefined;

  /** Table ids → names, for OVSDB Flow_Table rows. */
  tableNames(): Map<number, string> {
    return new Map(this.pipeline.tables.map((t) => [t.id, t.name]));
  }

  cookie(app: string, object: number | bigint): bigint {
    const appId = this.pipeline.cookies.apps[app];
    if (appId === undefined) throw new PipelineError(`app ${app} has no cookie id`);
    const objMask = (1n << BigInt(this.pipeline.cookies.objectBits)) - 1n;
    return (BigInt(appId) << BigInt(this.pipeline.cookies.appShift)) | (BigInt(object) & objMask);
  }

  /** The app id in a cookie (its app bits alone: decodeCookie without the object part; metrics count every flow). */
  appIdOfCookie(cookie: bigint): number {
    this.appShift ??= BigInt(this.pipeline.cookies.appShift);
    return Number((cookie >> this.appShift) & 0xffn);
  }

  /** The app an id of appIdOfCookie() names, if any. */
  appName(appId: number): string | undefined {
    this.appNames ??= new Map(Object.entries(this.pipeline.cookies.apps).map(([name, id]) => [id, name]));
    return this.appNames.get(appId);
  }

  private appShift: bigint | undefined;
  private appNames: Map<number, string> | undefined;

  /** Splits a cookie back into app name and object key (for dump-flows and debug output). */
  decodeCookie(cookie: bigint): { app: string | undefined; object: bigint } {
    const app = this.appName(this.appIdOfCookie(cookie));
    const objMask = (1n << BigInt(this.pipeline.cookies.objectBits)) - 1n;
    return { app, object: cookie & objMask };
  }

  /**
   * The guard applied to any flow (the flow manager's check before anything reaches the codec): its table
   * exists, its cookie names the table's owner (or the pipeline, for miss flows), and guardFlow's rules hold.
   * Throws FlowGuardError.
   */
  check(f: DesiredFlow): void {
    const def = this.pipeline.tables.find((t) => t.id === f.tableId);
    if (!def) throw new FlowGuardError(`#${f.tableId}`, 'table', 'no such table in the pipeline');
    const { app } = this.decodeCookie(f.cookie);
    if (app !== def.owner && app !== 'pipeline')
      throw new FlowGuardError(def.name, 'owner', `app ${app ?? '?'} may not write it (owned by ${def.owner})`);
    guardFlow(def, f, (id) => this.nameOf(id));
  }

  /**
   * The guarded tables of one app. With `defer`, a flow the guard refuses is handed to `defer` and returned as
   * built instead of thrown, so the rest of the app's flows still go out: the flow manager checks every flow again
   * and sets the refused one aside alone (the agent's computation). Without it the builder throws (tests, tools).
   */
  forApp(app: string, defer?: (err: FlowGuardError) => void): AppTables {
    return new AppTables(this, app, defer);
  }

  /** Shared frozen parts of every flow the apps build (see FlowInterner). */
  readonly interner = new FlowInterner();

  /** Values built once per pipeline (see AppTables.memo); dropped wholesale past MEMO_LIMIT entries. */
  private readonly memos = new Map<string, unknown>();

  memo<T>(key: string, build: () => T): T {
    if (this.memos.has(key)) return this.memos.get(key) as T;
    if (this.memos.size >= MEMO_LIMIT) this.memos.clear();
    const v = build();
    this.memos.set(key, v);
    return v;
  }

  private misses: DesiredFlow[] | undefined;

  /** One flow per table implementing its declared miss behaviour (priority 0, owned by 'pipeline'). */
  missFlows(): DesiredFlow[] {
    this.misses ??= this.buildMissFlows();
    return this.misses;
  }

  private buildMissFlows(): DesiredFlow[] {
    return this.pipeline.tables.map((t) => {
      const instructions: Instruction[] = [];
      if (t.miss === 'next') instructions.push({ type: 'goto_table', tableId: this.id(t.next[0]!) });
      if (t.miss === 'controller')
        instructions.push({ type: 'apply_actions', actions: [this.forApp(t.owner).toController(t.missOpcode!)] });
      return {
        table: t.name,
        tableId: t.id,
        priority: 0,
        match: [],
        instructions,
        cookie: this.cookie('pipeline', t.id),
        idleTimeout: 0,
        hardTimeout: 0,
      };
    });
  }
}

/** A key that has no zone in its range (an ofport or router key too large): refused, loudly, by the caller. */
export class CtZoneError extends PipelineError {
  constructor(
    readonly range: string,
    readonly key: number,
    message: string,
  ) {
    super(message);
    this.name = 'CtZoneError';
  }
}

/** Bound of PipelineTables.memo: past it, everything is rebuilt once (keys of ports long gone are dropped). */
const MEMO_LIMIT = 100_000;

export class AppTables {
  constructor(
    private readonly tables: PipelineTables,
    readonly app: string,
    private readonly defer?: (err: FlowGuardError) => void,
  ) {}

  table(name: string): GuardedTable {
    const def = this.tables.def(name);
    if (def.owner !== this.app) throw new PipelineError(`app ${this.app} may not write table ${name} (owned by ${def.owner})`);
    return new GuardedTable(this.tables, def, this.app, this.defer);
  }

  id(name: string): number {
    return this.tables.id(name);
  }

  /**
   * A value (typically flows) built once for this pipeline and `key`, then the same object on every recompute:
   * flows that depend only on the key (a port's key and ofport, say) cost nothing to rebuild, and the flow
   * manager sees the very same objects, which it compares by identity first. `key` must name everything the
   * value depends on besides the pipeline. Refusals of the guard are reported when the value is built.
   */
  memo<T>(key: string, build: () => T): T {
    return this.tables.memo(`${this.app}\u0000${key}`, build);
  }

  reg(name: string): string {
    return this.tables.reg(name);
  }

  regBits(name: string): { field: string; offset: number; bits: number } {
    return this.tables.regBits(name);
  }

  flag(name: string): { field: string; mask: number | bigint } {
    return this.tables.flag(name);
  }

  /** A flag's bit number within its switch field (for reg_load, which writes bits, not masks). */
  flagBit(name: string): { field: string; bit: number } {
    const { field, mask } = this.tables.flag(name);
    return { field, bit: BigInt(mask).toString(2).length - 1 };
  }

  /**
   * The meter id of a local port in one of this app's meter ranges (pipelines/ `meters`): base + ofport.
   */
  meterId(range: string, ofport: number): number {
    const r = this.tables.pipeline.meters[range];
    if (!r) throw new PipelineError(`unknown meter range ${range}`);
    if (r.owner !== this.app) throw new PipelineError(`app ${this.app} may not use meter range ${range} (owned by ${r.owner})`);
    if (!Number.isInteger(ofport) || ofport < 1 || ofport >= METER_RANGE_SIZE)
      throw new PipelineError(`meter range ${range}: ofport ${ofport} is outside 1..${METER_RANGE_SIZE - 1}`);
    return r.base + ofport;
  }

  /**
   * Reports a refusal an app found itself (a key without a ct zone): to the agent's log like a guard refusal
   * (with `defer`), thrown without it (tests, tools).
   */
  report(err: FlowGuardError): void {
    if (!this.defer) throw err;
    this.defer(err);
  }

  /**
   * The conntrack zone of `key` in one of this app's zone ranges (pipelines/ `ct_zones`): base + key. A key outside
   * the range is refused (CtZoneError): the caller must fail closed (drop), never track in a zone of another range.
   */
  ctZone(range: string, key: number): number {
    const r = this.tables.pipeline.ctZones[range];
    if (!r) throw new PipelineError(`unknown ct zone range ${range}`);
    if (r.owner !== this.app) throw new PipelineError(`app ${this.app} may not use ct zone range ${range} (owned by ${r.owner})`);
    if (!Number.isInteger(key) || key < 0 || key >= r.size)
      throw new CtZoneError(range, key, `ct zone range ${range}: key ${key} is outside 0..${r.size - 1}`);
    return r.base + key;
  }

  /**
   * The action that sends a packet to the agent saying why (`opcode`, one of this app's in pipelines/): the
   * opcode rides in NXAST_CONTROLLER2 userdata, written as OVS dumps it back so installed == desired.
   */
  toController(opcode: string): Action {
    const o = this.tables.opcode(opcode);
    if (o.owner !== this.app) throw new PipelineError(`app ${this.app} may not send opcode ${opcode} (owned by ${o.owner})`);
    return { type: 'controller', maxLen: 0xffff, v2: true, userdata: opcodeUserdata(o.id) };
  }
}

export class GuardedTable {
  constructor(
    private readonly tables: PipelineTables,
    readonly def: TableDef,
    private readonly app: string,
    private readonly defer?: (err: FlowGuardError) => void,
  ) {}

  flow(spec: FlowSpec): DesiredFlow {
    try {
      return this.build(spec);
    } catch (err) {
      if (!(err instanceof FlowGuardError) || !this.defer) throw err;
      this.defer(err);
      return this.build(spec, false);
    }
  }

  private build(spec: FlowSpec, guard = true): DesiredFlow {
    const intern = this.tables.interner;
    const instructions: Instruction[] = [];
    // First, as OVS orders instructions when it dumps a flow back (installed == desired).
    if (spec.meter !== undefined) instructions.push(intern.instruction({ type: 'meter', meterId: spec.meter }));
    if (spec.actions && spec.actions.length > 0)
      instructions.push(Object.freeze({ type: 'apply_actions', actions: intern.actions(spec.actions) }) as Instruction);
    if (spec.writeMetadata)
      instructions.push(intern.instruction({ type: 'write_metadata', metadata: spec.writeMetadata.value, mask: spec.writeMetadata.mask }));
    if (spec.goto !== undefined) {
      if (guard && !this.def.next.includes(spec.goto))
        throw new FlowGuardError(this.def.name, 'goto', `may not go to ${spec.goto} (next: ${this.def.next.join(', ') || 'none'})`);
      instructions.push(intern.instruction({ type: 'goto_table', tableId: this.tables.id(spec.goto) }));
    }
    // Kept for as long as the flow is on the switch, ~14 a port: its parts are shared and frozen (FlowInterner).
    const flow = new BuiltFlow(
      this.def.name,
      this.def.id,
      spec.priority,
      intern.match(spec.match),
      intern.instructions(instructions),
      intern.cookie(this.tables.cookie(this.app, spec.object)),
      spec.idleTimeout ?? 0,
      spec.hardTimeout ?? 0,
    );
    if (guard) guardFlow(this.def, flow, (id) => this.tables.nameOf(id));
    return flow;
  }
}
