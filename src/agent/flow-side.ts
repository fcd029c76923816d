/**
 * The agent's flow side, made and wired at start-up: the OpenFlow channel, the flow manager (the one writer to the
 * switch), the apps' flow computer and the PACKET_IN dispatcher. Kept apart from the Agent class, which only orders
 * the start-up: how these parts are connected to each other and to the switch link is read here in one place; what
 * the agent does when the OpenFlow session comes or goes comes back through the explicit hooks of FlowSideInput.
 */
import type { LoadedApps } from '../apps/registry.js';
import { FlowManager } from '../flows/manager.js';
import { OfChannel } from '../openflow/channel/index.js';
import type { PipelineTables } from '../pipeline/tables.js';
import type { PrefixSubscription } from '../store/index.js';
import type { Logger } from '../util/log.js';
import type { TopologyView } from '../view/topology-view.js';
import { FlowComputer } from './compute.js';
import type { AgentConfig } from './config.js';
import type { InstalledMarks } from './installed-marks.js';
import type { AgentMetrics } from './metrics.js';
import { PacketInDispatcher } from './packet-in.js';
import type { StartTrace } from './start-trace.js';
import type { StoreHealth } from './store-health.js';
import type { SwitchLink } from './switch-link.js';
import type { AgentTls } from './tls.js';

export interface FlowSideInput {
  config: AgentConfig;
  logger: Logger;
  tables: PipelineTables;
  apps: LoadedApps;
  view: TopologyView;
  link: SwitchLink;
  ovsTls: AgentTls['ovs'];
  metrics: AgentMetrics;
  /** Followed by the metrics, with the flow manager. */
  health: StoreHealth;
  subscription: PrefixSubscription;
  marks: InstalledMarks;
  trace: StartTrace;
  /** Set once the first computation is done: PACKET_INs are answered only then. */
  started(): boolean;
  /** An OpenFlow session is up (after it is logged). */
  sessionUp(): void;
  /** The OpenFlow session went down (after it is logged). */
  sessionDown(): void;
}

export interface FlowSide {
  channel: OfChannel;
  flows: FlowManager;
  computer: FlowComputer;
  packetIn: PacketInDispatcher;
}

/** The flow side: the OpenFlow channel, the flow manager, the apps' computer and the PACKET_IN dispatcher. */
export function wireFlowSide(input: FlowSideInput): FlowSide {
  const { config: cfg, logger: log, tables, apps } = input;
  // Flows: nothing is written before the first full computation.
  // NXT_PACKET_IN2: the only PACKET_IN that returns the opcode a flow put in its controller action's userdata.
  const channel = new OfChannel({
    endpoint: cfg.openflow,
    packetInFormat: 'nxt_packet_in2',
    logger: log.child({ component: 'openflow' }),
    ...input.ovsTls,
  });
  const flows = new FlowManager(channel, { logger: log.child({ component: 'flows' }), check: (f) => tables.check(f) });
  input.metrics.follow({ flows, health: input.health, subscription: input.subscription });
  const refusedSeen = new Set<string>();
  const computer = new FlowComputer(
    tables,
    apps.apps.map(({ app }) => app),
    input.view,
    flows,
    (err) => {
      // Once per distinct refusal: a recompute builds the same refused flow again.
      if (refusedSeen.has(err.message) || refusedSeen.size > 1000) return;
      refusedSeen.add(err.message);
      log.error({ err }, 'an app built a flow the pipeline refuses; it is set aside, the rest go out');
    },
  );
  const packetIn = new PacketInDispatcher(tables, apps.routes, log.child({ component: 'packet-in' }), {
    rate: cfg.packetInRate,
    burst: cfg.packetInBurst,
  });
  channel.on('message', (msg) => {
    // Errors nobody waits for answer fire-and-forget messages (PACKET_OUTs): worth a log line.
    if (msg.type === 'ERROR') log.warn({ errType: msg.errTypeName, code: msg.codeName, xid: msg.xid }, 'switch reported an error');
    // The channel is up before the first computation (see attachSwitch): apps answer nothing from a partial view.
    if (!input.started()) return;
    const out = packetIn.handle(msg);
    if (out) void flows.answer({ ...out.transient, packets: out.messages }).catch((err) => log.warn({ err }, 'packet-in answer not sent'));
  });
  input.link.watchChannel(channel); // re-prepares the bridge on each session
  channel.on('up', (ev: { session: number }) => {
    input.trace.mark('OpenFlow session up');
    log.info({ session: ev.session }, 'OpenFlow session up');
    input.sessionUp();
  });
  channel.on('down', (reason: string) => {
    log.warn({ reason }, 'OpenFlow session down');
    input.sessionDown();
  });
  flows.on('synced', () => void input.marks.applied(flows.appliedVersion));
  return { channel, flows, computer, packetIn };
}
