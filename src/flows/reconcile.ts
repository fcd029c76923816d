import type { OfMessage } from '../openflow/index.js';
import { OfpErrorMessage } from '../openflow/index.js';
import type { Logger } from '../util/log.js';
import { flowKey, isTransient } from './desired.js';
import { groupFromSwitch, groupKind, meterFromSwitch, meterKind } from './groups-meters.js';
import { signature, type FlowChannel, type InstalledFlow } from './types.js';
import type { DesiredFlow } from '../pipeline/tables.js';

const OFPM_ALL = 0xffffffff;

/** What the switch holds, as the flow manager keeps it: flows by key, groups and meters by id (signatures). */
export interface SwitchState {
  flows: Map<string, InstalledFlow>;
  groups: Map<number, string>;
  meters: Map<number, string>;
}

/**
 * Dumps flows (transient ones included: the manager owns every flow on the switch), groups (GROUP_DESC) and
 * meters (METER_CONFIG). A switch that answers a group or meter dump with an error (no support) holds none.
 */
export async function readSwitch(channel: FlowChannel, logger: Logger): Promise<SwitchState> {
  // The three dumps at once: one round trip to the switch, not three (a fresh start and every reconnect wait for it).
  const [flowStats, groupReplies, meterReplies] = await Promise.all([
    channel.dumpFlows(),
    dump(channel, { kind: 'group_desc' }, logger),
    dump(channel, { kind: 'meter_config', meterId: OFPM_ALL }, logger),
  ]);
  const flows = new Map<string, InstalledFlow>();
  for (const f of flowStats) {
    // Kept as read (counters and all) only until the first diff finds each equal to a declared flow.
    flows.set(flowKey(f), f);
  }
  const groups = new Map<number, string>();
  for (const m of groupReplies) {
    if (m.body.kind !== 'group_desc') continue;
    for (const g of m.body.groups) groups.set(g.groupId, groupKind.signature(groupFromSwitch(g)));
  }
  const meters = new Map<number, string>();
  for (const m of meterReplies) {
    if (m.body.kind !== 'meter_config') continue;
    for (const c of m.body.meters) meters.set(c.meterId, meterKind.signature(meterFromSwitch(c)));
  }
  return { flows, groups, meters };
}

type Reply = Extract<OfMessage, { type: 'MULTIPART_REPLY' }>;

async function dump(
  channel: FlowChannel,
  body: Extract<OfMessage, { type: 'MULTIPART_REQUEST' }>['body'],
  logger: Logger,
): Promise<Reply[]> {
  try {
    const replies = await channel.multipart({ type: 'MULTIPART_REQUEST', xid: 0, flags: 0, body });
    return replies.filter((m): m is Reply => m.type === 'MULTIPART_REPLY');
  } catch (err) {
    if (!(err instanceof OfpErrorMessage)) throw err;
    logger.warn({ err, kind: body.kind }, 'switch refuses the dump; taking it as empty');
    return [];
  }
}

/**
 * Reads the switch and compares it with `expected` (e.g. a full recompute): flows missing on the switch, flows there
 * that nobody expects, and flows whose actions or cookie differ. Transient flows are left out.
 */
export async function compareWithSwitch(
  channel: FlowChannel,
  expected: DesiredFlow[],
): Promise<{ equal: boolean; missing: string[]; extra: string[]; different: string[] }> {
  const onSwitch = new Map<string, string>();
  for (const f of await channel.dumpFlows()) {
    if (isTransient(f)) continue;
    onSwitch.set(flowKey(f), signature(f));
  }
  const want = new Map(expected.map((f) => [flowKey(f), signature(f)]));
  const missing = [...want.keys()].filter((k) => !onSwitch.has(k));
  const extra = [...onSwitch.keys()].filter((k) => !want.has(k));
  const different = [...want].filter(([k, sig]) => onSwitch.has(k) && onSwitch.get(k) !== sig).map(([k]) => k);
  return { equal: missing.length + extra.length + different.length === 0, missing, extra, different };
}
