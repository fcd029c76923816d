/**
 * Whether the bridge of each bridge mapping still reaches its physical network: its uplink (issue 14's open gap).
 *
 * A gateway chassis whose uplink is dead (cable pulled, switch port down, NIC gone) but whose agent, lease and
 * ovs-vswitchd are healthy would keep its routers' gateways and black-hole their north-south traffic: nothing in
 * the store says anything is wrong. OVN finds it by BFD between gateway chassis; here the switch itself says it:
 * Open vSwitch reports each interface's carrier in Interface.link_state. A mapped bridge whose uplink interfaces
 * are all down makes its physnet "down" on this chassis, and the agent stands down from the gateways on it
 * (races.ts), as it does for the whole chassis when its datapath dies.
 *
 * The uplinks are the bridge's interfaces that carry frames to the wire: not its internal port, not the patch
 * ports (ours to br-int), not tunnels. A bridge with no such interface (a lab bridge, uplinks the operator wires
 * differently) is not judged: only "every uplink there is, is down" makes a physnet down, so nothing that worked
 * before stops working. A bond is one Port of several interfaces: up while any of them is.
 */
import { optional, Uuid, type Row, type Value } from '../ovsdb/datum.js';

/** Interface types that are not an uplink to the wire. */
const NOT_UPLINKS = new Set([
  'internal',
  'patch',
  'geneve',
  'vxlan',
  'gre',
  'ip6gre',
  'erspan',
  'ip6erspan',
  'stt',
  'lisp',
  'bareudp',
  'gtpu',
  'srv6',
]);

/** The OVSDB columns this needs, for a monitor of Open_vSwitch. */
export const UPLINK_MONITOR = {
  Bridge: ['name', 'ports'],
  Port: ['name', 'interfaces'],
  Interface: ['name', 'type', 'link_state'],
} as const;

export interface Rows {
  rows(table: string): ReadonlyMap<string, Row>;
}

/** An uplink of a mapped bridge and its carrier. */
export interface UplinkState {
  bridge: string;
  /** Uplink interfaces found on the bridge, with their link state ('up', 'down', or 'unknown' before OVS says). */
  uplinks: Record<string, string>;
  /** True when the bridge has uplinks and none is up. */
  down: boolean;
}

const refs = (v: Value | undefined): string[] => {
  if (v === undefined) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.filter((a): a is Uuid => a instanceof Uuid).map((u) => u.id);
};

/** Each mapped physnet's uplink state, from a monitor holding UPLINK_MONITOR's columns. */
export function uplinkStates(db: Rows, mappings: Readonly<Record<string, string>>): Map<string, UplinkState> {
  const bridges = new Map<string, Row>();
  for (const row of db.rows('Bridge').values()) if (typeof row.name === 'string') bridges.set(row.name, row);
  const ports = db.rows('Port');
  const ifaces = db.rows('Interface');
  const out = new Map<string, UplinkState>();
  for (const [physnet, bridge] of Object.entries(mappings)) {
    const br = bridges.get(bridge);
    if (!br) continue; // a missing bridge is reported as such (switch-link.ts), not as a dead uplink
    const uplinks: Record<string, string> = {};
    for (const p of refs(br.ports)) {
      for (const i of refs(ports.get(p)?.interfaces)) {
        const row = ifaces.get(i);
        if (!row || typeof row.name !== 'string') continue;
        if (NOT_UPLINKS.has((optional<string>(row.type) ?? '') as string)) continue;
        uplinks[row.name] = optional<string>(row.link_state) ?? 'unknown';
      }
    }
    const states = Object.values(uplinks);
    out.set(physnet, { bridge, uplinks, down: states.length > 0 && states.every((s) => s === 'down') });
  }
  return out;
}

/** What `agent status` says of a physnet's uplinks: 'none' when the bridge has no uplink to judge. */
export interface UplinkStatus {
  state: 'up' | 'down' | 'none';
  interfaces: Record<string, string>;
}

export function uplinkStatus(u: UplinkState): UplinkStatus {
  const state = u.down ? 'down' : Object.keys(u.uplinks).length === 0 ? 'none' : 'up';
  return { state, interfaces: u.uplinks };
}

/** The physnets whose uplinks are all down. */
export function physnetsDown(states: ReadonlyMap<string, UplinkState>): Set<string> {
  return new Set([...states].filter(([, s]) => s.down).map(([p]) => p));
}
