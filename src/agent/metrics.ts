/**
 * The agent's Prometheus metrics (served at /metrics by its API). One Registry per agent — tests run several
 * agents in one process — and nothing counted twice: gauges and most counters are read at scrape time from the
 * state the components already keep (flow manager, packet-in dispatcher, apps, switch link, store health).
 * Histograms are fed as things happen: bundle apply latency, port install latency (plug → installed mark) and
 * store watch lag (a write by this agent → its arrival through the watch).
 *
 * prom-client (its registry and metric modules, src/api/prom.ts) is loaded by load(), which the agent calls when its
 * API starts, after the first flows are on the switch (docs/footprint.md, start-up): until then what happens is kept here —
 * counts as plain numbers (the counters read them at scrape time), histogram observations in a short list
 * replayed into the histograms when they are made — so every metric is complete from the first scrape.
 */
import type { EventEmitter } from 'node:events';
import type { Counter as CounterT, Gauge as GaugeT, Histogram as HistogramT, Registry } from 'prom-client';
import type { SubscriptionEvent } from '../store/index.js';
import type { Store, TxnResult } from '../store/types.js';
import type { Agent } from './agent.js';
import { unreachableChassis } from './encap.js';

type Labels = Record<string, string>;
type HistogramName = 'bundle' | 'portInstall' | 'watchLag';

/** prom-client, loaded with the API once the first flows are on the switch (passed in, not imported). */
type Prom = typeof import('../api/prom.js');

/** Observations kept before the histograms exist (the first flows come before prom-client is loaded). */
const EARLY_MAX = 10_000;

/** A counter whose value lives elsewhere (a component's own count): set from it at each scrape. */
function counterOf(
  { Counter }: Prom,
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => Iterable<[Labels, number]>,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: CounterT) {
      this.reset();
      for (const [labels, v] of read()) this.inc(labels, v);
    },
  });
}

function gaugeOf(
  { Gauge }: Prom,
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => Iterable<[Labels, number]>,
): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: GaugeT) {
      this.reset();
      for (const [labels, v] of read()) this.set(labels, v);
    },
  });
}

const one = (v: number | undefined): Iterable<[Labels, number]> => (v === undefined ? [] : [[{}, v]]);
/** wyvern_flows' app for a flow no owner declares (cookie app ids are 0–255). */
const UNDECLARED_APP = 1000;
const flag = (b: boolean | undefined): Iterable<[Labels, number]> => one(b === undefined ? undefined : b ? 1 : 0);

/** The parts of an agent that exist only once it started (collectors run before that too). */
type Started = Partial<Pick<Agent, 'flows' | 'link' | 'health' | 'packetIn' | 'bindings' | 'channel'>>;

export class AgentMetrics {
  private reg?: Registry;
  private loading?: Promise<Registry>;
  /** Histogram observations by histogram, until load() makes the histograms (then replayed, then direct). */
  private readonly early = new Map<HistogramName, number[]>();
  private histograms?: Record<HistogramName, HistogramT>;
  private storeUps = 0;
  private watchReconnects = 0;
  private readonly watchEvents = new Map<string, number>();
  /** Store revision written by this agent → when the write was sent (performance.now()), until the watch brings it. */
  private readonly written = new Map<number, number>();
  /** Revisions the watch brought before the write's answer came back → when. */
  private readonly arrived = new Map<number, number>();

  constructor(private readonly agent: Agent) {}

  /** The registry /metrics serves, once load() made it. */
  get registry(): Registry {
    if (!this.reg) throw new Error('agent metrics not loaded yet (AgentMetrics.load())');
    return this.reg;
  }

  /** Loads prom-client and makes every metric (once; later calls get the same registry). */
  load(): Promise<Registry> {
    this.loading ??= (async () => {
      const [prom, { newRegistry }] = await Promise.all([import('../api/prom.js'), import('../api/health.js')]);
      const registry = newRegistry('agent');
      this.build(prom, registry);
      this.reg = registry;
      return registry;
    })();
    return this.loading;
  }

  private observe(name: HistogramName, seconds: number): void {
    if (this.histograms) {
      this.histograms[name].observe(seconds);
      return;
    }
    let list = this.early.get(name);
    if (!list) this.early.set(name, (list = []));
    if (list.length < EARLY_MAX) list.push(seconds);
  }

  private build(prom: Prom, r: Registry): void {
    const a = this.agent as Started;
    const agent = this.agent;
    const { Histogram } = prom;
    const histograms: Record<HistogramName, HistogramT> = {
      bundle: new Histogram({
        name: 'wyvern_bundle_apply_seconds',
        help: 'Time to apply one atomic OpenFlow bundle (sent to commit confirmed)',
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers: [r],
      }),
      portInstall: new Histogram({
        name: 'wyvern_port_install_seconds',
        help: "Time from a VIF's plug to its installed mark (its flows on the switch)",
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [r],
      }),
      watchLag: new Histogram({
        name: 'wyvern_store_watch_lag_seconds',
        help: "Time from a store write by this agent (its API, bindings, chassis key) to the write's arrival through the watch",
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
        registers: [r],
      }),
    };
    for (const [name, list] of this.early) for (const v of list) histograms[name].observe(v);
    this.early.clear();
    this.histograms = histograms;
    counterOf(prom, r, 'wyvern_store_reconnects_total', 'Store outages ended (the store answers again)', [], () => one(this.storeUps));
    counterOf(
      prom,
      r,
      'wyvern_store_watch_reconnects_total',
      'Store watches re-established: a broken stream resumed where it left off, or a prefix re-read after a failure',
      [],
      () => one(this.watchReconnects),
    );
    counterOf(
      prom,
      r,
      'wyvern_store_watch_events_total',
      'Store watch events received, by type (resync: a prefix re-read after a failure or compaction)',
      ['type'],
      () => [...this.watchEvents].map(([type, v]): [Labels, number] => [{ type }, v]),
    );
    gaugeOf(prom, r, 'wyvern_flows', 'Flows on the switch by table and owning app (undeclared: being removed)', ['table', 'app'], () => {
      // Counted by number (table id × 1024 + app id) and named once per series: a scrape walks every installed flow,
      // and a text key, a decoded cookie and a yielded object per flow left 0.6–1.3 MB a scrape in the old generation
      // at 1,000 ports (docs/footprint.md, fifteenth session).
      const counts = new Map<number, number>();
      a.flows?.forEachInstalled((tableId, cookie) => {
        const k = tableId * 1024 + (cookie === undefined ? UNDECLARED_APP : agent.tables.appIdOfCookie(cookie));
        counts.set(k, (counts.get(k) ?? 0) + 1);
      });
      return [...counts].map(([k, v]): [Labels, number] => {
        const tableId = Math.floor(k / 1024);
        const appId = k % 1024;
        const table = agent.tables.nameOf(tableId) ?? String(tableId);
        const app = appId === UNDECLARED_APP ? 'undeclared' : (agent.tables.appName(appId) ?? 'unknown');
        return [{ table, app }, v];
      });
    });
    gaugeOf(prom, r, 'wyvern_flows_desired', 'Permanent flows the apps declare', [], () => one(a.flows?.desiredCount()));
    counterOf(prom, r, 'wyvern_flow_syncs_total', 'Flow syncs to the switch', [], () => one(a.flows?.stats.syncs));
    counterOf(prom, r, 'wyvern_flow_sync_errors_total', 'Flow syncs that failed (retried after re-reading the switch)', [], () =>
      one(a.flows?.stats.errors),
    );
    counterOf(prom, r, 'wyvern_flows_rejected_total', 'Flows the guard, the codec or the switch refused (set aside)', [], () =>
      one(a.flows?.stats.rejectedFlows),
    );
    counterOf(prom, r, 'wyvern_flow_reconciles_total', 'Times the switch was read back and reconciled', [], () =>
      one(a.flows?.stats.reconciles),
    );
    counterOf(prom, r, 'wyvern_flows_changed_by_others_total', 'Flows someone else added, changed or deleted on the switch', [], () =>
      one(a.flows?.stats.foreignChanges),
    );
    gaugeOf(prom, r, 'wyvern_switch_flow_monitor', 'Whether the switch reports flows changed by others (1) or not (0)', [], () =>
      flag(a.flows?.watchingSwitch),
    );

    counterOf(prom, r, 'wyvern_packet_in_total', 'PACKET_INs by owning app and outcome', ['app', 'outcome'], () =>
      [...(a.packetIn?.outcomes ?? [])].map(([k, v]): [Labels, number] => {
        const [app, outcome] = k.split(' ') as [string, string];
        return [{ app, outcome }, v];
      }),
    );

    gaugeOf(prom, r, 'wyvern_store_connected', 'Whether the store answers (1) or not (0)', [], () => flag(a.health?.isConnected));
    gaugeOf(prom, r, 'wyvern_ovsdb_connected', 'Whether the OVSDB session is up (1) or not (0)', [], () =>
      flag(a.link && a.link.status().ovsdb.state === 'connected'),
    );
    gaugeOf(prom, r, 'wyvern_bridge_ready', 'Whether the bridge is prepared on this OVSDB session (1) or not (0)', [], () =>
      flag(a.link && a.link.status().bridge.state === 'ready'),
    );
    gaugeOf(prom, r, 'wyvern_openflow_connected', 'Whether the OpenFlow session to the bridge is up (1) or not (0)', [], () =>
      flag(a.channel?.isUp),
    );
    counterOf(prom, r, 'wyvern_openflow_sessions_total', 'OpenFlow sessions established', [], () => one(a.channel?.sessionCount));
    gaugeOf(prom, r, 'wyvern_ready', 'Whether /readyz answers 200 (1) or 503 (0)', [], () => flag(agent.probeReady()));

    gaugeOf(
      prom,
      r,
      'wyvern_chassis_seen',
      'Live chassis this agent knows (itself included; lazy sync: those its networks and elections name)',
      [],
      () => one(agent.view.chassis.size),
    );
    gaugeOf(prom, r, 'wyvern_chassis_unreachable', 'Chassis this one shares no encapsulation with', [], () =>
      one(unreachableChassis(agent.view.encaps, agent.config.chassis, agent.view.chassis).length),
    );
    gaugeOf(prom, r, 'wyvern_ports_bound', 'Logical ports bound to this chassis', [], () => one(a.bindings?.boundPorts().length));
    gaugeOf(prom, r, 'wyvern_networks_watched', 'Networks this agent watches', [], () => one(agent.view.networks.size));

    for (const { app, runtime } of agent.apps.apps) {
      for (const m of runtime.metrics ?? []) {
        const read = (): Iterable<[Labels, number]> => {
          const v = m.values();
          return typeof v === 'number' ? [[{}, v]] : Object.entries(v).map(([k, n]): [Labels, number] => [{ [m.label ?? 'kind']: k }, n]);
        };
        const labels = m.label ? [m.label] : [];
        if (m.type === 'counter') counterOf(prom, r, `wyvern_${app.name}_${m.name}`, m.help, labels, read);
        else gaugeOf(prom, r, `wyvern_${app.name}_${m.name}`, m.help, labels, read);
      }
    }
  }

  /** Follows the components that report as things happen. */
  follow(parts: { flows: EventEmitter; health: EventEmitter; subscription: EventEmitter }): void {
    parts.flows.on('bundleApplied', (b: { seconds: number }) => this.observe('bundle', b.seconds));
    parts.health.on('up', () => this.storeUps++);
    parts.subscription.on('resumed', () => this.watchReconnects++);
    parts.subscription.on('event', (ev: SubscriptionEvent) => {
      this.watchEvents.set(ev.type, (this.watchEvents.get(ev.type) ?? 0) + 1);
      if (ev.type === 'resync') this.watchReconnects++;
      if (ev.type === 'put' || ev.type === 'delete') this.watchArrived(ev.revision);
    });
  }

  /** A VIF got its installed mark this long after its plug. */
  portInstalled(seconds: number): void {
    this.observe('portInstall', seconds);
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
      this.observe('watchLag', Math.max(0, came - sent) / 1000);
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
      this.observe('watchLag', Math.max(0, now - sent) / 1000);
      return;
    }
    if (this.arrived.has(revision)) return;
    this.arrived.set(revision, now);
    if (this.arrived.size > 256) this.arrived.delete(this.arrived.keys().next().value!);
  }
}
