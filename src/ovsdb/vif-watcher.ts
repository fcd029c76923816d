import { EventEmitter } from 'node:events';
import { type Row, optional, stringMap } from './datum.js';
import type { OvsdbClient } from './client.js';
import type { MonitoredDb } from './monitor.js';

/** A VM interface as the agent needs it. */
export interface Vif {
  uuid: string;
  name: string;
  ofport: number;
  ifaceId?: string;
  attachedMac?: string;
  linkState?: string;
  type: string;
}

export const VIF_COLUMNS = ['name', 'ofport', 'external_ids', 'link_state', 'type'] as const;

export interface VifWatcherOptions {
  /** Which interfaces count (default: all with a valid ofport). */
  filter?: (v: Vif) => boolean;
}

/**
 * Turns Interface row events of a MonitoredDb (columns VIF_COLUMNS at least) into
 * 'plugged' (vif), 'changed' (vif, old), 'unplugged' (vif) events. An interface is plugged
 * once ovs-vswitchd gave it a valid ofport (> 0); losing the ofport or the row unplugs it.
 */
export class VifWatcher extends EventEmitter {
  private readonly current = new Map<string, Vif>();
  private started = false;
  private readonly onAdded = (t: string, uuid: string, row: Row) => t === 'Interface' && this.evaluate(uuid, row);
  private readonly onChanged = (t: string, uuid: string, _old: Row, row: Row) => t === 'Interface' && this.evaluate(uuid, row);
  private readonly onRemoved = (t: string, uuid: string) => t === 'Interface' && this.evaluate(uuid, undefined);

  constructor(
    readonly db: MonitoredDb,
    private readonly opts: VifWatcherOptions = {},
  ) {
    super();
  }

  /** Monitors Interface on `c` and returns a watcher (not yet started). */
  static async create(c: OvsdbClient, opts: VifWatcherOptions = {}): Promise<VifWatcher> {
    const db = await c.monitor('Open_vSwitch', { Interface: [...VIF_COLUMNS] });
    return new VifWatcher(db, opts);
  }

  /** Emits 'plugged' for interfaces already present, then follows changes. */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const [uuid, row] of this.db.rows('Interface')) this.evaluate(uuid, row);
    this.db.on('rowAdded', this.onAdded);
    this.db.on('rowChanged', this.onChanged);
    this.db.on('rowRemoved', this.onRemoved);
  }

  stop(): void {
    this.db.off('rowAdded', this.onAdded);
    this.db.off('rowChanged', this.onChanged);
    this.db.off('rowRemoved', this.onRemoved);
    this.started = false;
  }

  vifs(): Vif[] {
    return [...this.current.values()];
  }

  byName(name: string): Vif | undefined {
    for (const v of this.current.values()) if (v.name === name) return v;
    return undefined;
  }

  private evaluate(uuid: string, row: Row | undefined): void {
    const v = row ? toVif(uuid, row) : undefined;
    const valid = v !== undefined && v.ofport > 0 && (this.opts.filter?.(v) ?? true);
    const prev = this.current.get(uuid);
    if (valid && !prev) {
      this.current.set(uuid, v);
      this.emit('plugged', v);
    } else if (!valid && prev) {
      this.current.delete(uuid);
      this.emit('unplugged', prev);
    } else if (valid && prev && !sameVif(prev, v)) {
      this.current.set(uuid, v);
      this.emit('changed', v, prev);
    }
  }
}

function toVif(uuid: string, row: Row): Vif {
  const ids = stringMap(row.external_ids);
  const v: Vif = { uuid, name: String(row.name), ofport: optional<number>(row.ofport) ?? 0, type: String(row.type ?? '') };
  if (ids['iface-id'] !== undefined) v.ifaceId = ids['iface-id'];
  if (ids['attached-mac'] !== undefined) v.attachedMac = ids['attached-mac'];
  const ls = optional<string>(row.link_state);
  if (ls !== undefined) v.linkState = ls;
  return v;
}

function sameVif(a: Vif, b: Vif): boolean {
  return (
    a.name === b.name &&
    a.ofport === b.ofport &&
    a.ifaceId === b.ifaceId &&
    a.attachedMac === b.attachedMac &&
    a.linkState === b.linkState &&
    a.type === b.type
  );
}
