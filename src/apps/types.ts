import type { AppTables, DesiredFlow } from '../pipeline/tables.js';
import type { NetworkState, TopologyView } from '../view/index.js';

/**
 * A proactive app: computes its flows for one network from the topology view. The agent calls it for
 * every network whose state changed (incremental) or for all networks (full recompute); both must agree.
 */
export interface NetworkApp {
  readonly name: string;
  networkFlows(tables: AppTables, view: TopologyView, net: NetworkState): DesiredFlow[];
}

export const ALL_ONES_64 = 0xffffffffffffffffn;

/** Flag bit in the flags register: the packet entered through a tunnel. */
export const FROM_TUNNEL = 1;
