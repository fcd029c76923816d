import type { Action, Instruction, Match } from '../openflow/index.js';
import { PipelineError, type TableDef } from './pipeline.js';

/** What a flow broke: the rule names are stable (logs, counters, tests). */
export type GuardRule = 'table' | 'owner' | 'match' | 'goto' | 'set_field' | 'priority' | 'miss_match' | 'ct_zone';

/**
 * A flow the pipeline's declaration does not allow. The one error every guard refusal throws, whether an app
 * builds the flow through its guarded table or the flow manager checks a flow handed to it.
 */
export class FlowGuardError extends PipelineError {
  constructor(
    readonly table: string,
    readonly rule: GuardRule,
    detail: string,
  ) {
    super(`table ${table}: ${detail}`);
    this.name = 'FlowGuardError';
  }
}

/** Fields that are OpenFlow prerequisites of others and so allowed in every table. */
const PREREQUISITES = new Set(['eth_type', 'ip_proto']);

/** What the guard looks at in a flow (a DesiredFlow, or the same read back from the switch). */
export interface GuardedFlow {
  priority: number;
  match: Match;
  instructions: Instruction[];
}

/**
 * Calls `each` with every field an action writes (set_field, the destination of Nicira moves and loads, and those
 * inside ct's exec). A callback, not an array: a flood flow's hundreds of actions are checked on every change.
 */
function writtenFields(a: Action, each: (field: string) => void): void {
  if (a.type === 'set_field') each(a.field);
  else if (a.type === 'reg_move' || a.type === 'reg_load') each(a.dst);
  else if (a.type === 'ct') for (const x of a.actions) writtenFields(x, each);
}

/**
 * The table an action sends the packet on to, if any: a resubmit's table and conntrack's recirculation table are
 * jumps like goto_table, so they too must be declared in `next` (a ct recirculation of 255 goes nowhere).
 */
function jumpTarget(a: Action): number | undefined {
  if (a.type === 'resubmit' && a.table !== undefined && a.table !== 255) return a.table;
  if (a.type === 'ct' && a.recircTable !== 255) return a.recircTable;
  return undefined;
}

/**
 * Checks one flow against its table's declaration: priority in 0..65535 and in one of the table's bands
 * (priority 0 is the table-miss flow and must match everything), declared match fields, declared set-field
 * targets (write_metadata writes `metadata`), and gotos only to declared next tables. `tableName` maps a
 * goto's table id back to a name.
 */
export function guardFlow(def: TableDef, f: GuardedFlow, tableName: (id: number) => string | undefined): void {
  const refuse = (rule: GuardRule, detail: string): never => {
    throw new FlowGuardError(def.name, rule, detail);
  };
  if (!Number.isInteger(f.priority) || f.priority < 0 || f.priority > 0xffff)
    refuse('priority', `priority ${f.priority} is not in 0..65535`);
  if (f.priority === 0) {
    if (f.match.length > 0) refuse('miss_match', 'a priority-0 flow is the table-miss flow and may not match anything');
  } else if (def.bands.length > 0 && !def.bands.some((b) => f.priority >= b.min && f.priority <= b.max)) {
    refuse(
      'priority',
      `priority ${f.priority} is in none of the declared bands (${def.bands.map((b) => `${b.name} ${b.min}..${b.max}`).join(', ')})`,
    );
  }
  const settable = (field: string): void => {
    if (!def.sets.includes(field)) refuse('set_field', `may not set ${field} (sets: ${def.sets.join(', ') || 'none'})`);
  };
  const seen = new Set<string>();
  for (const m of f.match) {
    if (!def.matches.includes(m.field) && !PREREQUISITES.has(m.field)) refuse('match', `does not declare match field ${m.field}`);
    // OpenFlow refuses a field twice in one match (OFPBMC_DUP_FIELD): caught here, with the table named.
    if (seen.has(m.field)) refuse('match', `matches ${m.field} twice`);
    seen.add(m.field);
  }
  for (const ins of f.instructions) {
    if (ins.type === 'goto_table') {
      const name = tableName(ins.tableId);
      if (name === undefined || !def.next.includes(name))
        refuse('goto', `may not go to ${name ?? `table ${ins.tableId}`} (next: ${def.next.join(', ') || 'none'})`);
    } else if (ins.type === 'write_metadata') {
      if (!def.sets.includes('metadata')) refuse('set_field', 'may not write metadata (sets: ' + (def.sets.join(', ') || 'none') + ')');
    } else if (ins.type === 'apply_actions' || ins.type === 'write_actions') {
      for (const a of ins.actions) {
        writtenFields(a, settable);
        const id = jumpTarget(a);
        if (id !== undefined) {
          const name = tableName(id);
          if (name === undefined || !def.next.includes(name))
            refuse('goto', `may not ${a.type} to ${name ?? `table ${id}`} (next: ${def.next.join(', ') || 'none'})`);
        }
      }
    }
  }
}
