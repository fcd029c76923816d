/**
 * The agent's REST API (the northbound routes, the agent's own routes, /metrics and the probes): started once, as
 * late as the start allows (its modules and prom-client's are loaded only then, docs/footprint.md), or early when
 * the agent has to wait for the store and status must answer meanwhile. Kept apart from the Agent class: when the
 * API starts, how a failure to start reaches the agent's start, and how it is closed are one concern of their own.
 */
import type { ApiServer } from '../api/server.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { VERSION } from '../version.js';
import type { TopologyView } from '../view/topology-view.js';
import type { AgentConfig } from './config.js';
import { chassisReachability } from './encap.js';
import type { AgentMetrics } from './metrics.js';
import type { StartTrace } from './start-trace.js';
import type { StoreHealth } from './store-health.js';
import type { AgentTls } from './tls.js';

export interface AgentApiDeps {
  config: AgentConfig;
  logger: Logger;
  metrics: AgentMetrics;
  trace: StartTrace;
  view: TopologyView;
  /** The store (opened in the agent's start, before the API can start). */
  store(): Store;
  /** The API's TLS settings (loaded in the agent's start). */
  tls(): AgentTls['api'] | undefined;
  stopping(): boolean;
  /** /readyz. */
  probeReady(): boolean;
  /** Adds the agent's own routes (api-routes.ts, loaded here with the server's modules). */
  addRoutes(api: ApiServer, routes: typeof import('./api-routes.js')): void;
}

export class AgentApi {
  /** The API server, once listening. */
  server?: ApiServer;
  private starting?: Promise<void>;
  private failed!: (err: unknown) => void;
  /** Rejects if the API could not start (its address taken): that fails the start, whenever the API starts. */
  readonly failure = new Promise<never>((_, reject) => (this.failed = reject));

  constructor(private readonly d: AgentApiDeps) {
    this.failure.catch(() => undefined);
  }

  /** The REST API, /metrics and the probes, started once (see Agent.start()); its modules are loaded here. */
  start(): Promise<void> {
    const { config: cfg, logger } = this.d;
    if (cfg.apiListen === 'none') return Promise.resolve();
    this.starting ??= (async () => {
      const [{ startApiServer }, routes, registry] = await Promise.all([
        import('../api/server.js'),
        import('./api-routes.js'),
        this.d.metrics.load(),
      ]);
      if (this.d.stopping()) return;
      this.server = await startApiServer({
        store: this.d.store(),
        listen: cfg.apiListen,
        token: cfg.apiToken,
        logger,
        version: VERSION,
        registry,
        ready: () => this.d.probeReady(),
        ...this.d.tls(),
        chassisExtras: (c) => chassisReachability(this.d.view.encaps, cfg.chassis, c),
      });
      this.d.addRoutes(this.server, routes);
      this.d.trace.mark('API listening');
    })().catch((err: unknown) => {
      this.failed(err);
      throw err;
    });
    return this.starting;
  }

  /**
   * While the topology is not loaded: with the store reachable it is only still loading (the networks of the VIFs
   * just bound are being read), and the start goes on. If the store is unreachable, or becomes so before the topology
   * is loaded, with no cached topology to start from, the agent waits for the store: status and readiness must answer
   * meanwhile, so the API starts now.
   */
  serveIfStoreDown(health: StoreHealth, loaded: Promise<void>): void {
    const { logger } = this.d;
    const waitForStore = () => {
      logger.warn(
        'store unreachable and the topology not all loaded (nothing cached for part of it, or its reads still under way); the switch keeps its flows until it is',
      );
      this.start().catch((err) => logger.error({ err }, 'API not started'));
    };
    if (!health.isConnected) return waitForStore();
    health.once('down', waitForStore);
    const done = () => void health.off('down', waitForStore);
    loaded.then(done, done);
  }

  /** Waits for a start under way, then closes the server (errors ignored: the agent is stopping). */
  async close(): Promise<void> {
    await this.starting?.catch(() => undefined);
    await this.server?.close().catch(() => undefined);
  }
}
