/**
 * The contract between apps and the platform that runs them (after Antrea's feature interface). An app declares
 * its name, the tables it writes (pipelines/ must name it their owner), its desired flows per network (a pure
 * function of the view, so incremental == full recompute), and at run time its PACKET_IN handlers by opcode and
 * its counters. The agent builds one context per app and never names an app; apps never import the agent or
 * each other — what they share is the view (src/view) and this module.
 */
import { packetOut as buildPacketOut, type OfMessage } from '../openflow/index.js';
import type { ParsedFrame } from '../packet/index.js';
import { PipelineError } from '../pipeline/pipeline.js';
import type { DesiredMeter } from '../flows/groups-meters.js';
import type { AppTables, DesiredFlow } from '../pipeline/tables.js';
import type { Logger } from '../util/log.js';
import type { ViewChange } from '../view/topology-sync.js';
import type { NetworkState, PortLocation, PortState, TopologyView } from '../view/index.js';

export const ALL_ONES_64 = 0xffffffffffffffffn;

/**
 * The write_metadata instruction that sets the network register to `key`. OpenFlow 1.3 writes metadata by
 * instruction, not set_field, so this is where the register map's choice of metadata is relied on: a map that
 * moves `network` elsewhere is refused here instead of silently writing the wrong field.
 */
export function writeNetwork(tables: AppTables, key: number | bigint): { value: bigint; mask: bigint } {
  const field = tables.reg('network');
  if (field !== 'metadata') throw new PipelineError(`the network register must live in metadata (written by write_metadata), not ${field}`);
  return { value: BigInt(key), mask: ALL_ONES_64 };
}

/** One PACKET_IN as an app sees it: why it came (opcode), where from, and the parsed frame. */
export interface PacketIn {
  /** The opcode's name (pipelines/ packet_in_opcodes), which the flow that sent the packet carried. */
  opcode: string;
  table: string;
  inPort: number;
  /** The network register (tunnel key of the packet's logical network). */
  networkKey: bigint;
  frame: ParsedFrame;
  cookie: bigint;
}

/**
 * What a handler answers: packets to send (PACKET_OUTs), and flows to declare first under a transient owner of
 * the flow manager (flows with timeouts, e.g. a reactive route) — the packets go once those flows are in, so a
 * re-injected packet meets them.
 */
export interface PacketInResult {
  messages: OfMessage[];
  transient?: { owner: string; flows: DesiredFlow[] };
}

export type PacketInHandler = (pin: PacketIn) => PacketInResult | undefined;

/** Settings of this chassis an app may need (the agent reads config; apps never do). */
export interface AppConfig {
  /** Encapsulations this chassis offers, in preference order (DHCP's MTU option leaves room for the bulkiest). */
  readonly encaps: readonly ('vxlan' | 'geneve' | 'gre')[];
}

/** What a packet showed about a router gateway this chassis holds: another host announced its address. */
export interface GatewayConflict {
  routerId: string;
  /** The gateway IP, as the ARP's sender address. */
  ip: string;
  /** The announcing frame's source MAC and ARP sender MAC. */
  ethSrc: string;
  senderMac: string;
  /** The provider network it came in on. */
  networkId: string;
}

/**
 * What the agent made of a gateway conflict: `kept` — the store confirms this chassis holds the gateway, so the other
 * host is wrong (the app defends the address with a gratuitous ARP); `fenced` — the store cannot confirm it, so the
 * other host took the gateway over and this chassis stops acting for it; `none` — not a gateway held here.
 */
export type GatewayConflictOutcome = 'kept' | 'fenced' | 'none';

/**
 * What an app tells the agent about this chassis's elected roles. The elections are the agent's (through the
 * store); an app only reports what the datapath showed, and the agent decides what it means.
 */
export interface RoleSignals {
  gatewayConflict(conflict: GatewayConflict): GatewayConflictOutcome;
}

/** What the agent hands each app when it creates it. */
export interface AppContext {
  readonly view: TopologyView;
  /** The pipeline guarded for this app: its own tables, registers and opcodes by name. */
  readonly tables: AppTables;
  readonly logger: Logger;
  readonly config: AppConfig;
  /** Wall-clock milliseconds (the agent owns the clock; tests pass their own). */
  readonly now: () => number;
  readonly roles: RoleSignals;
}

/**
 * One metric an app offers (the agent turns it into a Prometheus family; apps never import the metrics
 * library): a counter or gauge, either one value or one value per `label` value (e.g. DHCP replies by type).
 */
export interface AppMetric {
  /** snake_case; a counter's ends in `_total`. Served as `wyvern_<app>_<name>`. */
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly label?: string;
  values(): number | Readonly<Record<string, number>>;
}

/** An app's run-time side, made once per agent by `create`. */
export interface AppRuntime {
  /** PACKET_IN handlers by opcode name; each opcode must be declared in pipelines/ with this app as owner. */
  readonly packetIn?: Readonly<Record<string, PacketInHandler>>;
  /** Counters, reported by `wyvern agent status` under the app's name. */
  readonly counters?: object;
  /** Metrics the agent serves at /metrics as `wyvern_<app>_<name>`, read at each scrape. */
  readonly metrics?: readonly AppMetric[];
  /**
   * Told of every view change after the view applied it (the networks touched, or all). Returns the transient
   * owners whose flows the change made stale: the agent drops them from the flow manager.
   */
  viewChanged?(change: ViewChange): readonly string[] | void;
  /**
   * Packets to send once the flows computed so far are on the switch (gratuitous ARPs for addresses that became
   * active here); called by the agent after each flush is applied.
   */
  announce?(): OfMessage[];
  /** Milliseconds until announce() has packets again without any view change (an announcement repeated), if ever. */
  announceDueIn?(): number | undefined;
}

export interface App {
  readonly name: string;
  /** Tables this app writes: exactly those pipelines/ declares with this app as owner. */
  readonly tables: readonly string[];
  /**
   * True if the app's flows depend on security groups or their members (not just on ports' group lists): a change
   * to those recomputes only such apps. An app that reads them without saying so would go stale: keep it exact.
   */
  readonly readsSecurityGroups?: boolean;
  /**
   * True if the app's network flows and meters depend on the network's local ports only (and on the network, its
   * subnets, security groups, chassis): a change to a port bound elsewhere leaves them alone, so a join on another
   * hypervisor costs this app nothing here. An app that reads remote ports while saying so would go stale: keep it
   * exact (the incremental == recompute tests catch it).
   */
  readonly localPortsOnly?: boolean;
  /**
   * Desired flows of one port of a network (owner key app + network + port), computed from that port, where it
   * is, and the network's own facts (the network, its subnets, chassis, tunnel ports) — never from other ports. A
   * change to one port recomputes only its flows, not the network's: what depends on several ports goes in
   * networkFlows.
   */
  portFlows?(tables: AppTables, view: TopologyView, net: NetworkState, ps: PortState, loc: PortLocation): DesiredFlow[];
  /** Desired flows for one network (the flows' owner key is app + network); with portFlows, the rest of them. */
  networkFlows?(tables: AppTables, view: TopologyView, net: NetworkState): DesiredFlow[];
  /** Meters the app's flows for one network use (same owner key as its flows; installed before them). */
  networkMeters?(tables: AppTables, view: TopologyView, net: NetworkState): DesiredMeter[];
  create(ctx: AppContext): AppRuntime;
}

/** A PACKET_OUT of a whole frame out of one port. */
export function packetOut(port: number, data: Buffer): OfMessage {
  return buildPacketOut({ actions: [{ type: 'output', port }], data });
}

/** Re-injects a frame at the start of the pipeline as if it came from `inPort` (OVS buffers nothing). */
export function packetReinject(inPort: number, data: Buffer): OfMessage {
  return buildPacketOut({ inPort, actions: [{ type: 'output', port: 'table' }], data });
}
