import type { Instruction, Match } from '../openflow/index.js';
import type { DesiredFlow } from './tables.js';

/**
 * A flow as GuardedTable.flow builds it (the one place apps make theirs): the DesiredFlow fields, own and enumerable
 * as in an object literal, so spread copies, JSON and structural comparisons see exactly those; and a private slot
 * for the flow's key (table, priority, match as text), which the flow manager makes once and asks for several times
 * per change (flowKey, src/flows/desired.ts).
 *
 * Why a class: the slot is inside the object. On a plain object the key went to a property added later, which V8
 * keeps in a separate property array of 40 bytes; a host with 1,000 ports holds ~14,000 flows (docs/footprint.md,
 * sixteenth session). A private field is not copied by a spread, so a copy with another match never carries a
 * stale key.
 */
export class BuiltFlow implements DesiredFlow {
  #key: string | undefined = undefined;

  constructor(
    public table: string,
    public tableId: number,
    public priority: number,
    public match: Match,
    public instructions: Instruction[],
    public cookie: bigint,
    public idleTimeout: number,
    public hardTimeout: number,
  ) {}

  /** The key kept in `f`, if `f` is a BuiltFlow whose key was made. */
  static keyOf(f: object): string | undefined {
    return #key in f ? f.#key : undefined;
  }

  /** Keeps `key` in `f` if `f` is a BuiltFlow; false otherwise (the caller keeps it elsewhere). */
  static keep(f: object, key: string): boolean {
    if (!(#key in f)) return false;
    f.#key = key;
    return true;
  }
}
