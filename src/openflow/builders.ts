/** Builders that fill OpenFlow defaults so flows are pleasant to write. */
import { OFP_DEFAULT_PRIORITY, OFP_NO_BUFFER, OFPG_ANY, OFPP } from './constants.js';
import type { FlowMod, HelloElement, MessageOf, OfMessage, PacketOut } from './types.js';

export type FlowModInit = Partial<Omit<FlowMod, 'type'>>;

/** A FLOW_MOD with defaults: add, table 0, priority 0x8000, NO_BUFFER, out_port/out_group ANY, xid 0. */
export function flowMod(p: FlowModInit = {}): FlowMod {
  return {
    type: 'FLOW_MOD',
    xid: p.xid ?? 0,
    cookie: p.cookie ?? 0n,
    cookieMask: p.cookieMask ?? 0n,
    tableId: p.tableId ?? 0,
    command: p.command ?? 'add',
    idleTimeout: p.idleTimeout ?? 0,
    hardTimeout: p.hardTimeout ?? 0,
    priority: p.priority ?? OFP_DEFAULT_PRIORITY,
    bufferId: p.bufferId ?? OFP_NO_BUFFER,
    outPort: p.outPort ?? OFPP.ANY,
    outGroup: p.outGroup ?? OFPG_ANY,
    flags: p.flags ?? 0,
    match: p.match ?? [],
    instructions: p.instructions ?? [],
  };
}

export function packetOut(p: Partial<Omit<PacketOut, 'type'>> = {}): PacketOut {
  return {
    type: 'PACKET_OUT',
    xid: p.xid ?? 0,
    bufferId: p.bufferId ?? OFP_NO_BUFFER,
    inPort: p.inPort ?? 'controller',
    actions: p.actions ?? [],
    data: p.data ?? Buffer.alloc(0),
  };
}

/** HELLO announcing the given versions in a version bitmap (default: OpenFlow 1.3 only). */
export function hello(xid = 0, versions: number[] = [4]): MessageOf<'HELLO'> {
  const bitmaps: number[] = [];
  for (const v of versions) {
    const i = v >> 5;
    while (bitmaps.length <= i) bitmaps.push(0);
    bitmaps[i] = (bitmaps[i]! | (1 << (v & 31))) >>> 0;
  }
  const elements: HelloElement[] = [{ type: 'versionbitmap', bitmaps }];
  return { type: 'HELLO', xid, elements };
}

export function barrierRequest(xid = 0): OfMessage {
  return { type: 'BARRIER_REQUEST', xid };
}

/** MULTIPART flow-stats request for all flows (optionally one table / cookie under a mask). */
export function flowStatsRequest(
  p: { xid?: number; tableId?: number; cookie?: bigint; cookieMask?: bigint } = {},
): MessageOf<'MULTIPART_REQUEST'> {
  return {
    type: 'MULTIPART_REQUEST',
    xid: p.xid ?? 0,
    flags: 0,
    body: {
      kind: 'flow',
      tableId: p.tableId ?? 0xff,
      outPort: OFPP.ANY,
      outGroup: OFPG_ANY,
      cookie: p.cookie ?? 0n,
      cookieMask: p.cookieMask ?? 0n,
      match: [],
    },
  };
}
