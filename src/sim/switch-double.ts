import { EventEmitter } from 'node:events';
import { encodeMessage, OfpErrorMessage, type FlowStats, type GroupDesc, type MeterConfig, type OfMessage } from '../openflow/index.js';
import type { FlowChannel } from '../flows/manager.js';
import { flowKey } from '../flows/manager.js';

/**
 * An in-memory OpenFlow switch behind the FlowChannel interface: FLOW_MODs and GROUP_MODs in bundles are
 * applied atomically, METER_MODs only outside bundles (like OVS, which refuses them in one), dumps return
 * what is there. The scale simulator (src/sim) runs one per simulated chassis — only Open vSwitch is simulated
 * there — and the unit tests' FakeSwitch adds a packet tracer on top; the integration tests use real Open vSwitch.
 */
export class SwitchDouble extends EventEmitter implements FlowChannel {
  isUp = false;
  readonly flows = new Map<string, FlowStats>();
  readonly groups = new Map<number, GroupDesc>();
  readonly meters = new Map<number, MeterConfig>();
  bundles = 0;
  flowMods = 0;
  failNextBundle = false;
  /** Messages the switch refuses (in a bundle: reported with their index, like OfBundleError). */
  refuse: ((m: OfMessage) => boolean) | undefined;

  connect(): void {
    this.isUp = true;
    this.emit('up');
  }

  disconnect(): void {
    this.isUp = false;
    this.emit('down', 'disconnected');
  }

  /**
   * A flow goes: it times out (reason 0, idle), or someone else deletes it (reason 2, delete: another controller,
   * `ovs-ofctl del-flows`, eviction); FLOW_REMOVED is sent if it asked for one.
   */
  expire(key: string, reason: 0 | 1 | 2 = 0): void {
    const f = this.flows.get(key);
    if (!f) throw new Error(`no flow ${key}`);
    this.flows.delete(key);
    if (f.flags & 1) {
      this.emit('message', {
        type: 'FLOW_REMOVED',
        xid: 0,
        cookie: f.cookie,
        priority: f.priority,
        reason,
        tableId: f.tableId,
        durationSec: 0,
        durationNsec: 0,
        idleTimeout: f.idleTimeout,
        hardTimeout: f.hardTimeout,
        packetCount: 0n,
        byteCount: 0n,
        match: f.match,
      } satisfies OfMessage);
    }
  }

  async bundle(msgs: OfMessage[], opts: { pipelineCommit?: boolean } = {}): Promise<void> {
    if (!this.isUp) throw new Error('not connected');
    if (this.failNextBundle) {
      this.failNextBundle = false;
      throw new Error('bundle failed (injected)');
    }
    // Like the real channel, every message is encoded on its way out (and an unencodable one fails the bundle).
    for (const m of msgs) encodeMessage(m);
    const refused = (m: OfMessage) => m.type === 'METER_MOD' || !!this.refuse?.(m);
    const refusedAt = msgs.findIndex(refused);
    // Like OVS: a refused add is not part of the bundle; with the commit pipelined the rest is committed.
    if (refusedAt >= 0 && !opts.pipelineCommit) throw Object.assign(new Error(`message #${refusedAt} refused`), { index: refusedAt });
    const flows = new Map(this.flows);
    const groups = new Map(this.groups);
    for (const m of msgs) if (!refused(m)) this.apply(flows, groups, m);
    this.bundles++;
    this.flows.clear();
    for (const [k, v] of flows) this.flows.set(k, v);
    this.groups.clear();
    for (const [k, v] of groups) this.groups.set(k, v);
    if (refusedAt >= 0)
      throw Object.assign(new Error(`message #${refusedAt} refused (the rest was committed)`), { index: refusedAt, committed: true });
  }

  async send(msg: OfMessage): Promise<void> {
    this.apply(this.flows, this.groups, msg);
  }

  async sendChecked(msg: OfMessage): Promise<void> {
    if (!this.isUp) throw new Error('not connected');
    encodeMessage(msg);
    if (this.refuse?.(msg))
      throw new OfpErrorMessage({
        type: 'ERROR',
        xid: 0,
        errType: 12,
        code: 0,
        errTypeName: 'OFPET_METER_MOD_FAILED',
        codeName: 'OFPMMFC_UNKNOWN',
        data: Buffer.alloc(0),
      } as never);
    this.apply(this.flows, this.groups, msg);
  }

  async barrier(): Promise<void> {}

  async dumpFlows(): Promise<FlowStats[]> {
    if (!this.isUp) throw new Error('not connected');
    return [...this.flows.values()];
  }

  async multipart(req: OfMessage): Promise<OfMessage[]> {
    if (!this.isUp) throw new Error('not connected');
    if (req.type !== 'MULTIPART_REQUEST') throw new Error('fake switch: not a multipart request');
    const reply = (body: Extract<OfMessage, { type: 'MULTIPART_REPLY' }>['body']): OfMessage[] => [
      { type: 'MULTIPART_REPLY', xid: 0, flags: 0, body },
    ];
    if (req.body.kind === 'group_desc') return reply({ kind: 'group_desc', groups: [...this.groups.values()] });
    // Like OVS, a meter asked for without a burst size reports one of its own.
    if (req.body.kind === 'meter_config') return reply({ kind: 'meter_config', meters: [...this.meters.values()] });
    // Nobody else writes to this switch: the monitor is granted and never reports anything.
    if (req.body.kind === 'flow_monitor') return reply({ kind: 'flow_monitor', updates: [] });
    throw new Error(`fake switch: unsupported multipart ${req.body.kind}`);
  }

  private apply(table: Map<string, FlowStats>, groups: Map<number, GroupDesc>, m: OfMessage): void {
    if (m.type === 'GROUP_MOD') {
      // OFPGC_ADD 0, OFPGC_MODIFY 1, OFPGC_DELETE 2 (OFPG_ALL deletes every group).
      if (m.command === 2) {
        if (m.groupId === 0xfffffffc) groups.clear();
        else groups.delete(m.groupId);
      } else groups.set(m.groupId, { groupId: m.groupId, groupType: m.groupType, buckets: m.buckets });
      return;
    }
    if (m.type === 'METER_MOD') {
      if (m.command === 2) this.meters.delete(m.meterId);
      else
        this.meters.set(m.meterId, {
          meterId: m.meterId,
          flags: m.flags,
          bands: m.flags & 4 ? m.bands : m.bands.map((b) => ({ ...b, burstSize: b.rate })),
        });
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
