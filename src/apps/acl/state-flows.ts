/**
 * The conntrack side of the firewall: per protected local port, the entry into conntrack in the port's zone
 * (acl_*_ct); and the state flows of the rule tables and the action tables, the same for every network.
 */
import type { Action, Match } from '../../openflow/index.js';
import type { AppTables, DesiredFlow } from '../../pipeline/tables.js';
import type { AclSide } from './rule-flows.js';

const ETH_IPV4 = 0x0800;
const ETH_ARP = 0x0806;

/** ct_state bits (OVS): a bit set in the mask and the value is +flag, set in the mask only is -flag. */
const CT = { new: 0x01, est: 0x02, rel: 0x04, rpl: 0x08, inv: 0x10, trk: 0x20 } as const;
const ctState = (plus: number, minus = 0): Match[number] => ({ field: 'ct_state', value: plus | CT.trk, mask: plus | minus | CT.trk });

export const CT_PRIO = { port: 100, otherDrop: 50 } as const;
export const STATE_PRIO = { related: 890, established: 900, blockedReply: 910, dhcp: 950, invalid: 1000 } as const;
export const ACTION_PRIO = 100;

/** A whole side of the pipeline: its ct table, and what comes after the firewall. */
export interface AclStage extends AclSide {
  ct: string;
  /** The table after the action table (dhcp on the egress side, egress on the ingress side). */
  after: string;
}

/** The ct action in the zone held by the ct_zone register (loaded by the ct table's flow). */
function ct(tables: AppTables, opts: { recirc?: number; commit?: boolean; blocked?: 0 | 1 }): Action {
  const zone = tables.regBits('ct_zone');
  const actions: Action[] = [];
  if (opts.blocked !== undefined) {
    const { field, bit } = tables.flagBit('blocked');
    actions.push({ type: 'reg_load', dst: field, ofs: bit, nBits: 1, value: BigInt(opts.blocked) });
  }
  return {
    type: 'ct',
    flags: opts.commit ? 1 : 0,
    zoneSrc: zone.field,
    // With zoneSrc, `zone` is the source bits as ofs_nbits (ofs << 6 | nBits - 1).
    zone: (zone.offset << 6) | (zone.bits - 1),
    recircTable: opts.recirc ?? 255,
    alg: 0,
    actions,
  };
}

/**
 * A protected local port's flows in the side's ct table: IPv4 loads the port's zone (its ofport), clears the
 * acl_allowed flag (a flood copy or a routed packet may carry it from an earlier ACL) and enters conntrack,
 * continuing in the rule table; ARP passes to the stage after the firewall; anything else is dropped.
 */
export function portCtFlows(tables: AppTables, stage: AclStage, portKey: number, zone: number): DesiredFlow[] {
  const table = tables.table(stage.ct);
  const zoneReg = tables.regBits('ct_zone');
  const allowed = tables.flagBit('acl_allowed');
  const port = { field: stage.portReg, value: portKey };
  return [
    table.flow({
      priority: CT_PRIO.port,
      match: [port, { field: 'eth_type', value: ETH_IPV4 }],
      actions: [
        { type: 'reg_load', dst: zoneReg.field, ofs: zoneReg.offset, nBits: zoneReg.bits, value: BigInt(zone) },
        { type: 'reg_load', dst: allowed.field, ofs: allowed.bit, nBits: 1, value: 0n },
        ct(tables, { recirc: tables.id(stage.rules) }),
      ],
      object: portKey,
    }),
    table.flow({ priority: CT_PRIO.port, match: [port, { field: 'eth_type', value: ETH_ARP }], goto: stage.after, object: portKey }),
    table.flow({ priority: CT_PRIO.otherDrop, match: [port], object: portKey }),
  ];
}

/** The rule table's state flows and the action table's flows of one side (object 0: shared by every network). */
export function stateFlows(tables: AppTables, stage: AclStage): DesiredFlow[] {
  const rules = tables.table(stage.rules);
  const action = tables.table(stage.action);
  const blocked = tables.flag('blocked');
  const mark = (v: 0 | 1): Match[number] => ({ field: blocked.field, value: v === 1 ? blocked.mask : 0, mask: blocked.mask });
  const allowedFlag = tables.flag('acl_allowed');
  // The ct action needs IP in the match (OVS refuses it otherwise, OFPBAC_MATCH_INCONSISTENT): every action flow
  // matches IPv4, which is all that reaches these tables anyway.
  const allowed = (v: 0 | 1): Match => [
    { field: 'eth_type', value: ETH_IPV4 },
    { field: allowedFlag.field, value: v === 1 ? allowedFlag.mask : 0, mask: allowedFlag.mask },
  ];
  const object = 0;
  const flows: DesiredFlow[] = [
    rules.flow({ priority: STATE_PRIO.invalid, match: [ctState(CT.inv)], object }),
    // Replies of a connection a rule allowed pass without rules of their own; those of a blocked one are dropped.
    rules.flow({ priority: STATE_PRIO.blockedReply, match: [ctState(CT.rpl), mark(1)], object }),
    rules.flow({ priority: STATE_PRIO.established, match: [ctState(CT.est | CT.rpl), mark(0)], goto: stage.after, object }),
    rules.flow({ priority: STATE_PRIO.related, match: [ctState(CT.rel), mark(0)], goto: stage.after, object }),
    // Allowed and new: committed (not blocked). Allowed and established: passes, unblocked if a rule was removed
    // and added again. Established and no longer allowed: marked blocked and dropped — the connection is cut at
    // its next packet and its replies meet the blocked-reply drop. Anything else (not allowed, new) drops.
    action.flow({
      priority: ACTION_PRIO,
      match: [...allowed(1), ctState(CT.new)],
      actions: [ct(tables, { commit: true, blocked: 0 })],
      goto: stage.after,
      object,
    }),
    action.flow({
      priority: ACTION_PRIO,
      match: [...allowed(1), ctState(CT.est), mark(1)],
      actions: [ct(tables, { commit: true, blocked: 0 })],
      goto: stage.after,
      object,
    }),
    action.flow({ priority: ACTION_PRIO, match: [...allowed(1), ctState(CT.est), mark(0)], goto: stage.after, object }),
    action.flow({
      priority: ACTION_PRIO,
      match: [...allowed(0), ctState(CT.est, CT.rpl)],
      actions: [ct(tables, { commit: true, blocked: 1 })],
      object,
    }),
  ];
  if (stage.direction === 'egress') {
    // DHCP client traffic (UDP 68 -> 67) is never filtered: a protected VM must get its address (as OpenStack).
    flows.push(
      rules.flow({
        priority: STATE_PRIO.dhcp,
        match: [
          { field: 'eth_type', value: ETH_IPV4 },
          { field: 'ip_proto', value: 17 },
          { field: 'udp_src', value: 68 },
          { field: 'udp_dst', value: 67 },
        ],
        goto: stage.after,
        object,
      }),
    );
  }
  return flows;
}
