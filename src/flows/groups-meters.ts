import type { Action, GroupDesc, MeterBand, MeterConfig, OfMessage } from '../openflow/index.js';
import { stable } from './canonical.js';

/** An OpenFlow group an owner wants on the switch. */
export interface DesiredGroup {
  groupId: number;
  type: 'all' | 'select' | 'indirect' | 'fast_failover';
  buckets: { actions: Action[]; weight?: number; watchPort?: number; watchGroup?: number }[];
}

/** An OpenFlow meter an owner wants on the switch (rates in kbit/s unless `pktps`). */
export interface DesiredMeter {
  meterId: number;
  pktps?: boolean;
  /** Use the bands' burst sizes (OFPMF_BURST); without it the switch picks the burst itself. */
  burst?: boolean;
  stats?: boolean;
  bands: MeterBand[];
}

const GROUP_TYPES = ['all', 'select', 'indirect', 'fast_failover'] as const;
const OFPMF = { KBPS: 1, PKTPS: 2, BURST: 4, STATS: 8 };
const ANY = 0xffffffff;
/** OFPGC_* and OFPMC_* share their numbers. */
const CMD = { add: 0, modify: 1, delete: 2 } as const;

/** One kind of id-keyed switch object (group, meter): how to compare it and the messages that write it. */
interface ObjectKind<D> {
  name: 'group' | 'meter';
  id(d: D): number;
  /** Canonical content, equal for the desired object and the same object read back from the switch. */
  signature(d: D): string;
  mod(command: keyof typeof CMD, d: D | { id: number }): OfMessage;
}

export const groupKind: ObjectKind<DesiredGroup> = {
  name: 'group',
  id: (g) => g.groupId,
  signature: (g) =>
    `${g.type}|${stable(g.buckets.map((b) => ({ actions: b.actions, weight: b.weight ?? 0, watchPort: b.watchPort ?? ANY, watchGroup: b.watchGroup ?? ANY })))}`,
  mod: (command, g) =>
    'groupId' in g
      ? {
          type: 'GROUP_MOD',
          xid: 0,
          command: CMD[command],
          groupType: GROUP_TYPES.indexOf(g.type),
          groupId: g.groupId,
          buckets: g.buckets.map((b) => ({
            actions: b.actions,
            weight: b.weight ?? 0,
            watchPort: b.watchPort ?? ANY,
            watchGroup: b.watchGroup ?? ANY,
          })),
        }
      : { type: 'GROUP_MOD', xid: 0, command: CMD[command], groupType: 0, groupId: g.id, buckets: [] },
};

function meterFlags(m: DesiredMeter): number {
  return (m.pktps ? OFPMF.PKTPS : OFPMF.KBPS) | (m.burst ? OFPMF.BURST : 0) | (m.stats ? OFPMF.STATS : 0);
}

export const meterKind: ObjectKind<DesiredMeter> = {
  name: 'meter',
  id: (m) => m.meterId,
  // Without OFPMF_BURST the switch chooses (and reports) a burst size of its own: it is not part of what we asked.
  signature: (m) => `${meterFlags(m)}|${stable(m.bands.map((b) => (m.burst ? b : { ...b, burstSize: 0 })))}`,
  mod: (command, m) =>
    'meterId' in m
      ? { type: 'METER_MOD', xid: 0, command: CMD[command], flags: meterFlags(m), meterId: m.meterId, bands: m.bands }
      : { type: 'METER_MOD', xid: 0, command: CMD[command], flags: 0, meterId: m.id, bands: [] },
};

/** A group read back from the switch, in the shape apps declare. */
export function groupFromSwitch(g: GroupDesc): DesiredGroup {
  return { groupId: g.groupId, type: GROUP_TYPES[g.groupType] ?? 'all', buckets: g.buckets };
}

export function meterFromSwitch(m: MeterConfig): DesiredMeter {
  return {
    meterId: m.meterId,
    pktps: (m.flags & OFPMF.PKTPS) !== 0,
    burst: (m.flags & OFPMF.BURST) !== 0,
    stats: (m.flags & OFPMF.STATS) !== 0,
    bands: m.bands,
  };
}

export interface ObjectConflict {
  kind: 'group' | 'meter';
  id: number;
  kept: string;
  setAside: string;
}

/** The messages that bring one kind of object from installed to desired, and what they will leave installed. */
export interface ObjectDiff {
  /** Adds and modifies (before the flows that may use them). */
  writes: { msg: OfMessage; key: string; id: number; sig: string }[];
  /** Deletes (after the flows that used them are gone). */
  deletes: { msg: OfMessage; key: string; id: number }[];
}

/**
 * Desired against installed for groups or meters, per owner. Two owners may declare the same id only with
 * the same content; otherwise the first keeps it and the later is set aside (reported once).
 */
export class SwitchObjects<D> {
  private readonly owners = new Map<string, Map<number, D>>();
  private readonly claims = new Map<number, Map<string, D>>();
  private readonly conflicted = new Set<string>();
  /** id → signature of what is on the switch. */
  installed = new Map<number, string>();
  /** id → signature the switch refused (left out until its owner declares something else). */
  readonly rejected = new Map<number, string>();

  constructor(
    readonly kind: ObjectKind<D>,
    private readonly onConflict: (c: ObjectConflict) => void,
  ) {}

  /** Replaces one owner's objects; true if anything changed. */
  set(owner: string, objects: readonly D[]): boolean {
    const prev = this.owners.get(owner);
    const next = new Map(objects.map((o) => [this.kind.id(o), o]));
    let changed = false;
    for (const [id, o] of next) {
      if (prev?.has(id) && this.kind.signature(prev.get(id)!) === this.kind.signature(o)) continue;
      let byOwner = this.claims.get(id);
      if (!byOwner) this.claims.set(id, (byOwner = new Map()));
      byOwner.set(owner, o);
      changed = true;
    }
    for (const id of prev?.keys() ?? []) {
      if (next.has(id)) continue;
      const byOwner = this.claims.get(id)!;
      byOwner.delete(owner);
      if (byOwner.size === 0) this.claims.delete(id);
      changed = true;
    }
    if (next.size === 0) this.owners.delete(owner);
    else this.owners.set(owner, next);
    return changed;
  }

  has(owner: string): boolean {
    return this.owners.has(owner);
  }

  ownerNames(): string[] {
    return [...this.owners.keys()];
  }

  /** The effective object per id: the first owner's; a different one from a later owner is a conflict. */
  effective(): Map<number, D> {
    const out = new Map<number, D>();
    for (const [id, byOwner] of this.claims) {
      const [[kept, first], ...rest] = [...byOwner];
      out.set(id, first!);
      const sig = this.kind.signature(first!);
      for (const [owner, o] of rest) {
        const tag = `${id}/${owner}`;
        if (this.kind.signature(o) === sig) continue;
        if (!this.conflicted.has(tag)) this.onConflict({ kind: this.kind.name, id, kept: kept!, setAside: owner });
        this.conflicted.add(tag);
      }
    }
    for (const tag of this.conflicted) if (!this.claims.has(Number(tag.split('/')[0]))) this.conflicted.delete(tag);
    return out;
  }

  diff(): ObjectDiff {
    const writes: ObjectDiff['writes'] = [];
    const deletes: ObjectDiff['deletes'] = [];
    const want = this.effective();
    for (const [id, o] of want) {
      const sig = this.kind.signature(o);
      const have = this.installed.get(id);
      if (have === sig) continue;
      if (this.rejected.get(id) === sig) continue;
      this.rejected.delete(id);
      writes.push({ msg: this.kind.mod(have === undefined ? 'add' : 'modify', o), key: `${this.kind.name}:${id}`, id, sig });
    }
    for (const id of this.installed.keys()) {
      if (want.has(id)) continue;
      deletes.push({ msg: this.kind.mod('delete', { id }), key: `${this.kind.name}:${id}`, id });
    }
    return { writes, deletes };
  }

  /** Sets aside what is now desired under `id`; returns its signature. */
  reject(id: number): void {
    const o = this.effective().get(id);
    this.rejected.set(id, o ? this.kind.signature(o) : '');
  }
}
