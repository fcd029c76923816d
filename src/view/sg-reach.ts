import { sgKey, sgMembersPrefix } from '../model/keys.js';
import { remoteGroupsOf } from './security-groups.js';
import type { TopologySync } from './topology-sync.js';
import type { TopologyView } from './topology-view.js';

/**
 * Lazy sync of security groups (like RouterReach for routed networks): an agent reads the document of every
 * group a local port is in (reason: the port's name), and the members of every group those groups' rules name as
 * remote (reason: `group:<id>` of the naming group) — nothing else. Called after each view or binding change; it
 * diffs the (prefix, reason) pairs it wants against the last ones and tells the sync.
 */
export class SecurityGroupReach {
  private held = new Set<string>();
  /** Diffs apply one after another: a later update's unwatch never overtakes an earlier one's watch. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly view: TopologyView,
    private readonly sync: TopologySync,
  ) {}

  /** The (prefix, reason) pairs the view calls for now. */
  wanted(): Set<string> {
    const out = new Set<string>();
    const local = new Set<string>();
    for (const net of this.view.networks.values())
      for (const { port } of net.ports.values()) {
        if (!this.view.localVif(port)) continue;
        for (const g of port.securityGroups) {
          local.add(g);
          out.add(pair(sgKey(g), port.name));
        }
      }
    for (const g of local) {
      const group = this.view.securityGroups.get(g);
      if (!group) continue;
      for (const r of remoteGroupsOf([group])) out.add(pair(sgMembersPrefix(r), `group:${g}`));
    }
    return out;
  }

  async update(): Promise<void> {
    const next = this.wanted();
    const added = [...next].filter((p) => !this.held.has(p));
    const removed = [...this.held].filter((p) => !next.has(p));
    this.held = next;
    if (added.length === 0 && removed.length === 0) return this.queue;
    this.queue = this.queue
      .then(async () => {
        for (const p of added) await this.sync.wantSg(...unpair(p));
        for (const p of removed) await this.sync.unwantSg(...unpair(p));
      })
      .catch(() => undefined); // the subscription retries a failed watch itself; the next update diffs again
    return this.queue;
  }
}

const SEP = '\u0000';
const pair = (prefix: string, reason: string): string => `${prefix}${SEP}${reason}`;
const unpair = (p: string): [string, string] => {
  const i = p.indexOf(SEP);
  return [p.slice(0, i), p.slice(i + 1)];
};
