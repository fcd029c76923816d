import type { FlowStats, OfMessage } from '../openflow/index.js';
import type { DesiredFlow } from '../pipeline/tables.js';
import { instructionsKey } from './canonical.js';

/** What the flow manager needs of an OpenFlow channel (OfChannel provides it; tests use a fake switch). */
export interface FlowChannel {
  readonly isUp: boolean;
  bundle(msgs: OfMessage[], opts?: { atomic?: boolean; ordered?: boolean; pipelineCommit?: boolean }): Promise<void>;
  dumpFlows(filter?: { tableId?: number }): Promise<FlowStats[]>;
  multipart(req: OfMessage): Promise<OfMessage[]>;
  /** One message and a barrier; rejects with the switch's ERROR (meters cannot go in bundles on OVS). */
  sendChecked(msg: OfMessage): Promise<void>;
  send(msg: OfMessage): Promise<void>;
  barrier(): Promise<void>;
  on(event: 'up', listener: () => void): unknown;
  /** Every message from the switch (the manager listens for FLOW_REMOVED). */
  on(event: 'message', listener: (msg: OfMessage) => void): unknown;
  off(event: 'up', listener: () => void): unknown;
  off(event: 'message', listener: (msg: OfMessage) => void): unknown;
}

/**
 * A flow on the switch, as the flow manager keeps it: the declared flow last written (the very object of the
 * desired state, so a flow is held once, not a copy and its canonical text beside it), or the flow as a dump read
 * it back, until it is found equal to a declared one.
 */
export type InstalledFlow = Pick<DesiredFlow, 'tableId' | 'priority' | 'match' | 'cookie' | 'idleTimeout' | 'hardTimeout' | 'instructions'>;

export interface FlowManagerStats {
  syncs: number;
  flowsAdded: number;
  flowsDeleted: number;
  reconciles: number;
  errors: number;
  /** Flows set aside because the guard, the codec or the switch refused them. */
  rejectedFlows: number;
  /** Groups and meters the switch or the codec refused. */
  rejectedObjects: number;
  /** Claims set aside because another owner holds the same flow, group or meter with different content. */
  conflicts: number;
  /** Transient flows that expired on the switch (FLOW_REMOVED, or found gone at reconcile). */
  transientExpired: number;
  /** Transient flows deleted on the switch by someone else (FLOW_REMOVED with reason DELETE: another controller, an
   * operator's ovs-ofctl, OVS evicting them), forgotten so that the next packet-in puts them back. */
  transientDeleted: number;
  /** Flows someone else added, changed or deleted on the switch, as its flow monitor reported them. */
  foreignChanges: number;
  /** Times the switch was re-read because of such changes (bursts are read once). */
  foreignRereads: number;
}

/** What a packet-in handler asks of the switch: transient flows under an owner, then packets that need them. */
export interface SwitchAnswer {
  owner?: string;
  flows?: DesiredFlow[];
  /** PACKET_OUTs: not switch state, sent once the flows are on the switch. */
  packets?: OfMessage[];
}

type Signed = { cookie: bigint; idleTimeout: number; hardTimeout: number; instructions: DesiredFlow['instructions'] };

/**
 * The canonical text of what a flow does (cookie, timeouts, instructions): equal for a declared flow and the same
 * flow read back from the switch. Computed when two flows are not the same object nor structurally equal, and
 * not kept (but for flows the switch refused).
 */
export function signature(f: Signed): string {
  return [f.cookie.toString(16), f.idleTimeout, f.hardTimeout, instructionsKey(f.instructions)].join('|');
}
