import { EventEmitter } from 'node:events';
import { encodeMessage, type FlowStats, type OfMessage } from '../../src/openflow/index.js';
import type { FlowChannel } from '../../src/flows/manager.js';
import { flowKey } from '../../src/flows/manager.js';
import { FakeOFTable, type TableGroup } from './fake-of-table.js';

/**
 * An in-memory OpenFlow flow table behind the FlowChannel interface: FLOW_MODs in bundles are applied
 * atomically, dumps return what is there. For fast unit tests of the flow manager; the integration tests
 * use real Open vSwitch.
 */
export class FakeSwitch extends EventEmitter implements FlowChannel {
  isUp = false;
  readonly flows = new Map<string, FlowStats>();
  /** Groups by id, from GROUP_MODs (add, modify, delete; sent alone or in a bundle). */
  readonly groups = new Map<number, TableGroup>();
  bundles = 0;
  flowMods = 0;
  failNextBundle = false;
  /** Messages the switch refuses in a bundle (reported with their index, like OfBundleError). */
  refuse: ((m: OfMessage) => boolean) | undefined;

  connect(): void {
    this.isUp = true;
    this.emit('up');
  }

  disconnect(): void {
    this.isUp = false;
    this.emit('down', 'test');
  }

  async bundle(msgs: OfMessage[], opts: { pipelineCommit?: boolean } = {}): Promise<void> {
    if (!this.isUp) throw new Error('not connected');
    if (this.failNextBundle) {
      this.failNextBundle = false;
      throw new Error('bundle failed (injected)');
    }
    // Like the real channel, every message is encoded on its way out (and an unencodable one fails the bundle).
    for (const m of msgs) encodeMessage(m);
    const refusedAt = this.refuse ? msgs.findIndex(this.refuse) : -1;
    // Like OVS: a refused add is not part of the bundle; with the commit pipelined the rest is committed.
    if (refusedAt >= 0 && !opts.pipelineCommit) throw Object.assign(new Error(`message #${refusedAt} refused`), { index: refusedAt });
    const next = new Map(this.flows);
    for (const m of msgs) if (!this.refuse?.(m)) this.apply(next, m);
    this.bundles++;
    this.flows.clear();
    for (const [k, v] of next) this.flows.set(k, v);
    if (refusedAt >= 0) throw Object.assign(new Error(`message #${refusedAt} refused (the rest was committed)`), { index: refusedAt, committed: true });
  }

  async send(msg: OfMessage): Promise<void> {
    this.apply(this.flows, msg);
  }

  async barrier(): Promise<void> {}

  /** What is installed, as a table packets can be run through ("where does this packet go?"). */
  table(): FakeOFTable {
    return new FakeOFTable(this.flows.values(), this.groups.values());
  }

  async dumpFlows(): Promise<FlowStats[]> {
    if (!this.isUp) throw new Error('not connected');
    return [...this.flows.values()];
  }

  private apply(table: Map<string, FlowStats>, m: OfMessage): void {
    if (m.type === 'GROUP_MOD') {
      // OFPGC_ADD 0, OFPGC_MODIFY 1, OFPGC_DELETE 2 (OFPG_ALL deletes every group).
      if (m.command === 2) {
        if (m.groupId === 0xfffffffc) this.groups.clear();
        else this.groups.delete(m.groupId);
      } else this.groups.set(m.groupId, { groupId: m.groupId, groupType: m.groupType, buckets: m.buckets });
      return;
    }
    if (m.type !== 'FLOW_MOD') return;
    this.flowMods++;
    const key = flowKey(m);
    if (m.command === 'add') {
      table.set(key, {
        tableId: m.tableId,
        priority: m.priority,
        cookie: m.cookie,
        idleTimeout: m.idleTimeout,
        hardTimeout: m.hardTimeout,
        flags: m.flags,
        match: m.match,
        instructions: m.instructions,
        durationSec: 0,
        durationNsec: 0,
        packetCount: 0n,
        byteCount: 0n,
      } as unknown as FlowStats);
    } else if (m.command === 'delete_strict') {
      table.delete(key);
    } else {
      throw new Error(`fake switch: unsupported command ${m.command}`);
    }
  }
}
