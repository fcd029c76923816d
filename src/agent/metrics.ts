/**
 * The agent's Prometheus metrics (served at /metrics by its API). One Registry per agent — tests run several
 * agents in one process — and nothing counted twice: gauges and most counters are read at scrape time from the
 * state the components already keep (flow manager, packet-in dispatcher, apps, switch link, store health).
 * Histograms are fed as things happen: bundle apply latency, port install latency (plug → installed mark) and
 * store watch lag (a write by this agent → its arrival through the watch).
 */
import type { EventEmitter } from 'node:events';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { newRegistry } from '../api/health.js';
import type { SubscriptionEvent } from '../store/index.js';
import type { Store, TxnResult } from '../store/types.js';
import type { Agent } from './agent.js';
import { unreachableChassis } from './encap.js';

type Labels = Record<string, string>;

/** A counter whose value lives elsewhere (a component's own count): set from it at each scrape. */
function counterOf(registry: Registry, name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of read()) this.inc(labels, v);
    },
  });
}

function gaugeOf(registry: Registry, name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of read()) this.set(labels, v);
    },
  });
}

const one = (v: number | undefined): Iterable<[Labels, number]> => (v === undefined ? [] : [[{}, v]]);
const flag = (b: boolean | undefined): Iterable<[Labels, number]> => one(b === undefined ? undefined : b ? 1 : 0);

/** The parts of an agent that exist only once it started (collectors run before that too). */
type Started = Partial<Pick<Agent, 'flows' | 'link' | 'health' | 'packetIn' | 'bindings' | 'channel'>>;

export class AgentMetrics {
  readonly registry: Registry = newRegistry('agent');
  private readonly bundle: Histogram;
  private readonly portInstall: Histogram;
  private readonly watchLag: Histogram;
  private readonly storeUps: Counter;
  private readonly watchEvents: Counter;
  private readonly watchReconnects: Counter;
  /** Store revision written by this agent → when the write was sent (performance.now()), until the watch brings it. */
  private readonly written = new Map<number, number>();
  /** Revisions the watch brought before the write's answer came back → when. */
  private readonly arrived = new Map<number, number>();

  constructor(private readonly agent: Agent) {
    const r = this.registry;
    const a = agent as Started;
    this.bundle = new Histogram({
      name: 'wyvern_bundle_apply_seconds',
      help: 'Time to apply one atomic OpenFlow bundle (sent to commit confirmed)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [r],
    });
    this.portInstall = new Histogram({
      name: 'wyvern_port_install_seconds',
      help: "Time from a VIF's plug to its installed mark (its flows on the switch)",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    this.watchLag = new Histogram({
      name: 'wyvern_store_watch_lag_seconds',
      help: "Time from a store write by this agent (its API, bindings, chassis key) to the write's arrival through the watch",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [r],
    });
    this.storeUps = new Counter({
      name: 'wyvern_store_reconnects_total',
      help: 'Store outages ended (the store answers again)',
      registers: [r],
    });
    this.watchReconnects = new Counter({
      name: 'wyvern_store_watch_reconnects_total',
      help: 'Store watches re-established: a broken stream resumed where it left off, or a prefix re-read after a failure',
      registers: [r],
    });
    this.watchEvents = new Counter({
      name: 'wyvern_store_watch_events_total',
      help: 'Store watch events received, by type (resync: a prefix re-read after a failure or compaction)',
      labelNames: ['type'],
      registers: [r],
    });

    gaugeOf(r, 'wyvern_flows', 'Flows on the switch by table and owning app (undeclared: being removed)', ['table', 'app'], () => {
      const counts = new Map<string, number>();
      for (const f of a.flows?.installedFlows() ?? []) {
        const table = agent.tables.nameOf(f.tableId) ?? String(f.tableId);
        const app = f.cookie === undefined ? 'undeclared' : (agent.tables.decodeCookie(f.cookie).app ?? 'unknown');
        const k = `${table} ${app}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      return [...counts].map(([k, v]): [Labels, number] => {
        const [table, app] = k.split(' ') as [string, string];
        return [{ table, app }, v];
      });
    });
    gaugeOf(r, 'wyvern_flows_desired', 'Permanent flows the apps declare', [], () => one(a.flows?.desiredFlows().length));
    counterOf(r, 'wyvern_flow_syncs_total', 'Flow syncs to the switch', [], () => one(a.flows?.stats.syncs));
    counterOf(r, 'wyvern_flow_sync_errors_total', 'Flow syncs that failed (retried after re-reading the switch)', [], () =>
      one(a.flows?.stats.errors),
    );
    counterOf(r, 'wyvern_flows_rejected_total', 'Flows the guard, the codec or the switch refused (set aside)', [], () =>
      one(a.flows?.stats.rejectedFlows),
    );
    counterOf(r, 'wyvern_flow_reconciles_total', 'Times the switch was read back and reconciled', [], () => one(a.flows?.stats.reconciles));

    counterOf(r, 'wyvern_packet_in_total', 'PACKET_INs by owning app and outcome', ['app', 'outcome'], () =>
      [...(a.packetIn?.outcomes ?? [])].map(([k, v]): [Labels, number] => {
        const [app, outcome] = k.split(' ') as [string, string];
        return [{ app, outcome }, v];
      }),
    );

    gaugeOf(r, 'wyvern_store_connected', 'Whether the store answers (1) or not (0)', [], () => flag(a.health?.isConnected));
    gaugeOf(r, 'wyvern_ovsdb_connected', 'Whether the OVSDB session is up (1) or not (0)', [], () =>
      flag(a.link && a.link.status().ovsdb.state === 'connected'),
    );
    gaugeOf(r, 'wyvern_bridge_ready', 'Whether the bridge is prepared on this OVSDB session (1) or not (0)', [], () =>
      flag(a.link && a.link.status().bridge.state === 'ready'),
    );
    gaugeOf(r, 'wyvern_openflow_connected', 'Whether the OpenFlow session to the bridge is up (1) or not (0)', [], () =>
      flag(a.channel?.isUp),
    );
    counterOf(r, 'wyvern_openflow_sessions_total', 'OpenFlow sessions established', [], () => one(a.channel?.sessionCount));
    gaugeOf(r, 'wyvern_ready', 'Whether /readyz answers 200 (1) or 503 (0)', [], () => flag(agent.probeReady()));

    gaugeOf(
      r,
      'wyvern_chassis_seen',
      'Live chassis this agent knows (itself included; lazy sync: those its networks and elections name)',
      [],
      () => one(agent.view.chassis.size),
    );
    gaugeOf(r, 'wyvern_chassis_unreachable', 'Chassis this one shares no encapsulation with', [], () =>
      one(unreachableChassis(agent.view.encaps, agent.config.chassis, agent.view.chassis).length),
    );
    gaugeOf(r, 'wyvern_ports_bound', 'Logical ports bound to this chassis', [], () => one(a.bindings?.boundPorts().length));
    gaugeOf(r, 'wyvern_networks_watched', 'Networks this agent watches', [], () => one(agent.view.networks.size));

    for (const { app, runtime } of agent.apps.apps) {
      for (const m of runtime.metrics ?? []) {
        const read = (): Iterable<[Labels, number]> => {
          const v = m.values();
          return typeof v === 'number' ? [[{}, v]] : Object.entries(v).map(([k, n]): [Labels, number] => [{ [m.label ?? 'kind']: k }, n]);
        };
        const labels = m.label ? [m.label] : [];
        if (m.type === 'counter') counterOf(r, `wyvern_${app.name}_${m.name}`, m.help, labels, read);
        else gaugeOf(r, `wyvern_${app.name}_${m.name}`, m.help, labels, read);
      }
    }
  }

  /** Follows the components that report as things happen. */
  follow(parts: { flows: EventEmitter; health: EventEmitter; subscription: EventEmitter }): void {
    parts.flows.on('bundleApplied', (b: { seconds: number }) => this.bundle.observe(b.seconds));
    parts.health.on('up', () => this.storeUps.inc());
    parts.subscription.on('resumed', () => this.watchReconnects.inc());
    parts.subscription.on('event', (ev: SubscriptionEvent) => {
      this.watchEvents.inc({ type: ev.type });
      if (ev.type === 'resync') this.watchReconnects.inc();
      if (ev.type === 'put' || ev.type === 'delete') this.watchArrived(ev.revision);
    });
  }

  /** A VIF got its installed mark this long after its plug. */
  portInstalled(seconds: number): void {
    this.portInstall.observe(seconds);
  }

  /** The store, with its writes timed until the watch brings them back (wyvern_store_watch_lag_seconds). */
  instrumentStore(store: Store): Store {
    const timed =
      <A extends unknown[], R>(write: (...args: A) => Promise<R>, revision: (r: R) => number | undefined) =>
      async (...args: A): Promise<R> => {
        const sent = performance.now();
        const result = await write(...args);
        const rev = revision(result);
        if (rev !== undefined) this.wrote(rev, sent);
        return result;
      };
    const put = timed(store.put.bind(store), (rev) => rev);
    const del = timed(store.delete.bind(store), (rev) => rev);
    const txn = timed(store.txn.bind(store), (r: TxnResult) => (r.succeeded ? r.revision : undefined));
    return new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'put') return put;
        if (prop === 'delete') return del;
        if (prop === 'txn') return txn;
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  private wrote(revision: number, sent: number): void {
    const came = this.arrived.get(revision);
    if (came !== undefined) {
      this.arrived.delete(revision);
      this.watchLag.observe(Math.max(0, came - sent) / 1000);
      return;
    }
    this.written.set(revision, sent);
    // Writes to prefixes this agent does not watch never come back: forget the oldest.
    if (this.written.size > 1000) this.written.delete(this.written.keys().next().value!);
  }

  private watchArrived(revision: number): void {
    const now = performance.now();
    const sent = this.written.get(revision);
    if (sent !== undefined) {
      this.written.delete(revision);
      this.watchLag.observe(Math.max(0, now - sent) / 1000);
      return;
    }
    if (this.arrived.has(revision)) return;
    this.arrived.set(revision, now);
    if (this.arrived.size > 256) this.arrived.delete(this.arrived.keys().next().value!);
  }
}
