/**
 * The agent's hold on its Open vSwitch, which may be absent when the agent starts (boot order) and may
 * restart under it: connects OVSDB in the background and keeps reconnecting, prepares the bridge (bridge row,
 * Flow_Table names, tunnel port) on every OVSDB session and every new OpenFlow session, learns the tunnel's
 * ofport once ovs-vswitchd assigns it, and reports what it waits for. It never gives up and never throws
 * into the agent's start: a missing daemon is a state (`status()`), logged once per outage, not an exit.
 *
 * One flow-based tunnel port per encapsulation this chassis offers (peers each pick one of them).
 *
 * Events: 'prepared' (bridge rows in place on this OVSDB session), 'tunnelOfport' (encap, ofport, when it changes),
 * 'waiting' (what: 'ovsdb' | 'bridge') when OVSDB is not reachable or the bridge cannot be prepared yet.
 */
import { EventEmitter } from 'node:events';
import type { OfChannel } from '../openflow/channel/index.js';
import { OvsdbClient, OvsdbError, type OvsdbClientOptions } from '../ovsdb/index.js';
import { isTlsFailure } from '../ovsdb/transport.js';
import type { MonitoredDb } from '../ovsdb/monitor.js';
import { type Row, stringMap } from '../ovsdb/datum.js';
import { ensurePatchPorts, PHYSNET_KEY } from '../ovsdb/patch-ports.js';
import { ensureBridge, ensureTunnelPortRow, nameTables, waitOfport } from '../ovsdb/vswitch.js';
import type { Logger } from '../util/log.js';
import { physnetsDown, UPLINK_MONITOR, uplinkStates, uplinkStatus, type UplinkState, type UplinkStatus } from './uplink-health.js';
import { isoTime } from '../util/time.js';

export interface SwitchLinkOptions {
  /** OVSDB endpoint (unix:/path, tcp:HOST:PORT, ssl:HOST:PORT). */
  ovsdb: string;
  /** Passed to the OVSDB client (TLS files, reconnect backoff, socket watch). */
  ovsdbOptions?: Omit<OvsdbClientOptions, 'logger' | 'initialRetryMs'>;
  bridge: string;
  datapathType: 'system' | 'netdev';
  tableNames: Map<number, string>;
  /** Encapsulations offered, in preference order: one tunnel port each. */
  encaps: readonly ('vxlan' | 'geneve' | 'gre')[];
  tunnelIp: string;
  logger: Logger;
  /** Physical network → OVS bridge (bridge_mappings): one patch-port pair each, owned by the agent. */
  bridgeMappings?: Record<string, string>;
  /** How long the first wait for the tunnel's ofport lasts before the link reports ovs-vswitchd missing. Default 1 s. */
  ofportGraceMs?: number;
}

type Since = { since: string };
export interface SwitchLinkStatus {
  ovsdb: { state: 'connected' | 'waiting'; endpoint: string } & Since;
  bridge: {
    state: 'ready' | 'pending';
    name: string;
    tunnel: 'ready' | 'waiting for ovs-vswitchd' | 'pending';
    tunnelOfports: Record<string, number>;
    /** Per mapped physnet: its bridge, whether its patch port is usable, and that port's ofport on br-int. */
    physnets: Record<string, PhysnetStatus>;
  } & Since;
  openflow: { state: 'up' | 'down'; up: boolean; sessions: number } & Since;
}

export interface PhysnetStatus {
  bridge: string;
  state: 'ready' | 'bridge missing' | 'waiting for ovs-vswitchd' | 'pending';
  ofport?: number;
  /**
   * The mapped bridge's uplinks (uplink-health.ts): 'down' when every one is down (this chassis then holds no
   * gateway on the physnet), 'none' when the bridge has none to judge; each interface's link state.
   */
  uplink?: UplinkStatus;
}

/** Server-side waits are re-issued this often while ovs-vswitchd is away (one idle request, no polling). */
const OFPORT_WAIT_MS = 30_000;
const PREPARE_RETRY_MS = 1_000;

export class SwitchLink extends EventEmitter {
  readonly ovsdb: OvsdbClient;
  private readonly log: Logger;
  private ovsdbState: SwitchLinkStatus['ovsdb']['state'] = 'waiting';
  private ovsdbSince = Date.now();
  /** When the current outage was logged (one warning per outage, not one per retry). */
  private ovsdbWarned: number | undefined;
  private bridgeReady = false;
  private bridgeSince = Date.now();
  private tunnel: SwitchLinkStatus['bridge']['tunnel'] = 'pending';
  private tunnelWarned: number | undefined;
  private readonly tunnelOfports = new Map<string, number>();
  /** Physnet → its patch port's ofport on the integration bridge (only usable ones). */
  private readonly physnetOfports = new Map<string, number>();
  private readonly physnetState = new Map<string, PhysnetStatus['state']>();
  /**
   * Watches Bridge names, so a mapped bridge the operator creates later gets its patch ports at once, and the mapped
   * bridges' ports and interfaces, for their uplinks' carrier.
   */
  private bridgeMonitor: MonitoredDb | undefined;
  /** Each mapped physnet's uplinks as last read (uplink-health.ts). */
  private uplinks = new Map<string, UplinkState>();
  private ofportWait: AbortController | undefined;
  private channel: OfChannel | undefined;
  private ofUp = false;
  private ofEverUp = false;
  private ofSince = Date.now();
  private ofWarned: number | undefined;
  private prepareGen = 0;
  private prepareChain: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private waitingSeen = false;

  constructor(private readonly opts: SwitchLinkOptions) {
    super();
    this.log = opts.logger;
    // create() returns at once; the first attempt runs on the next turn, after our listeners are in place.
    this.ovsdb = OvsdbClient.create(opts.ovsdb, { ...opts.ovsdbOptions, logger: opts.logger.child({ component: 'ovsdb' }) });
    this.ovsdb.on('connected', () => this.onOvsdbConnected());
    this.ovsdb.on('disconnected', (err: Error) => this.onOvsdbLost(err));
    this.ovsdb.on('connectError', (err: Error) => this.onOvsdbLost(err));
  }

  /** Resolves once the bridge is prepared on the current OVSDB session (at once if it is), or the link is closed. */
  async ready(): Promise<void> {
    while (!(this.bridgeReady && this.ovsdb.connected)) {
      if (this.closed) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          this.off('prepared', done);
          this.off('closed', done);
          resolve();
        };
        this.on('prepared', done);
        this.on('closed', done);
      });
    }
  }

  /** Resolves the first time the link finds OVSDB unreachable (the agent then goes on without waiting). */
  untilWaiting(): Promise<void> {
    if (this.waitingSeen) return Promise.resolve();
    return new Promise((resolve) => this.once('waiting', () => resolve()));
  }

  /**
   * Follows the OpenFlow channel: its state goes into status(), its outages are logged once, and each new
   * session re-prepares the bridge (a restarted ovs-vswitchd may have given the tunnel another ofport).
   */
  watchChannel(ch: OfChannel): void {
    this.channel = ch;
    ch.on('up', () => {
      if (this.ofWarned !== undefined) this.log.info({ afterMs: Date.now() - this.ofWarned }, 'ovs-vswitchd reachable again');
      this.ofWarned = undefined;
      this.ofUp = true;
      this.ofEverUp = true;
      this.ofSince = Date.now();
      this.requestPrepare();
    });
    ch.on('down', () => {
      this.ofUp = false;
      this.ofSince = Date.now();
    });
    ch.on('connectError', (err: Error) => {
      if (this.ofWarned !== undefined) return;
      this.ofWarned = Date.now();
      this.log.warn(
        { endpoint: ch.endpoint, err: err.message },
        'ovs-vswitchd not reachable over OpenFlow; waiting for it (flows are reconciled when it is back)',
      );
    });
  }

  /**
   * Why this chassis's datapath cannot carry what an elected role sends through it (Election.standDown): its
   * OpenFlow session has been down for at least `graceMs` after having been up — ovs-vswitchd is dead or hung. A
   * restart of ovs-vswitchd reconnects well inside the grace and stands nothing down. Before the first session nothing
   * is said: a starting agent must not release the roles it held before its own restart.
   */
  datapathDown(graceMs: number, now = Date.now()): string | undefined {
    if (this.ofUp || !this.ofEverUp) return undefined;
    const ms = now - this.ofSince;
    return ms >= graceMs ? `datapath down: no OpenFlow session with ovs-vswitchd for ${ms} ms` : undefined;
  }

  /** Reads the mapped bridges' uplinks again; says (event, log) when a physnet goes down or comes back. */
  private checkUplinks(db: MonitoredDb): void {
    if (this.closed) return;
    const before = physnetsDown(this.uplinks);
    this.uplinks = uplinkStates(db, this.opts.bridgeMappings ?? {});
    const down = physnetsDown(this.uplinks);
    if (down.size === before.size && [...down].every((p) => before.has(p))) return;
    for (const p of down)
      if (!before.has(p))
        this.log.warn(
          { physnet: p, bridge: this.uplinks.get(p)?.bridge, uplinks: this.uplinks.get(p)?.uplinks },
          'every uplink of a mapped bridge is down: this chassis stands down from the gateways on its physnet',
        );
    for (const p of before)
      if (!down.has(p)) this.log.info({ physnet: p, uplinks: this.uplinks.get(p)?.uplinks }, 'an uplink of a mapped bridge is up again');
    this.emit('physnetsDown', down);
  }

  status(): SwitchLinkStatus {
    const iso = (t: number) => isoTime(t);
    const bridge: SwitchLinkStatus['bridge'] = {
      state: this.bridgeReady ? 'ready' : 'pending',
      name: this.opts.bridge,
      tunnel: this.tunnel,
      tunnelOfports: Object.fromEntries(this.tunnelOfports),
      physnets: Object.fromEntries(
        Object.entries(this.opts.bridgeMappings ?? {}).map(([physnet, br]) => {
          const ofport = this.physnetOfports.get(physnet);
          const u = this.uplinks.get(physnet);
          const uplink = u && uplinkStatus(u);
          return [
            physnet,
            {
              bridge: br,
              state: this.physnetState.get(physnet) ?? 'pending',
              ...(ofport !== undefined ? { ofport } : {}),
              ...(uplink ? { uplink } : {}),
            },
          ];
        }),
      ),
      since: iso(this.bridgeSince),
    };
    return {
      ovsdb: { state: this.ovsdbState, endpoint: this.opts.ovsdb, since: iso(this.ovsdbSince) },
      bridge,
      openflow: { state: this.ofUp ? 'up' : 'down', up: this.ofUp, sessions: this.channel?.sessionCount ?? 0, since: iso(this.ofSince) },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.ofportWait?.abort();
    this.emit('closed');
    await this.bridgeMonitor?.close().catch(() => undefined);
    await this.ovsdb.close();
  }

  private everConnected = false;

  private onOvsdbConnected(): void {
    this.everConnected = true;
    if (this.ovsdbWarned !== undefined) this.log.info({ afterMs: Date.now() - this.ovsdbWarned }, 'ovsdb-server reachable again');
    this.ovsdbWarned = undefined;
    this.ovsdbState = 'connected';
    this.ovsdbSince = Date.now();
    this.requestPrepare();
  }

  /** Rejects if the switch refuses our TLS certificate (or we refuse its) before any session: waiting fixes nothing. */
  untilFatal(): Promise<never> {
    return new Promise((_, reject) => this.once('fatal', reject));
  }

  private onOvsdbLost(err: Error): void {
    if (this.closed) return;
    if (!this.everConnected && isTlsFailure(err)) {
      this.emit('fatal', err);
      return;
    }
    if (this.ovsdbState === 'connected') {
      this.ovsdbState = 'waiting';
      this.ovsdbSince = Date.now();
    }
    this.setBridgeReady(false);
    this.ofportWait?.abort();
    if (this.ovsdbWarned !== undefined) return; // once per outage, not per attempt
    this.ovsdbWarned = Date.now();
    this.log.warn({ endpoint: this.opts.ovsdb, err: err.message }, 'ovsdb-server not reachable; waiting for it (the agent keeps running)');
    this.waitingSeen = true;
    this.emit('waiting', 'ovsdb');
  }

  private setBridgeReady(ready: boolean): void {
    if (this.bridgeReady === ready) return;
    this.bridgeReady = ready;
    this.bridgeSince = Date.now();
    if (!ready && this.tunnel === 'ready') this.tunnel = 'pending';
  }

  /** Queues a preparation; one runs at a time and a newer request supersedes those still queued. */
  private requestPrepare(): void {
    clearTimeout(this.retryTimer);
    const gen = ++this.prepareGen;
    this.prepareChain = this.prepareChain.then(() => this.prepare(gen));
  }

  private async prepare(gen: number): Promise<void> {
    if (gen !== this.prepareGen || this.closed || !this.ovsdb.connected) return;
    const o = this.opts;
    let tunnels: { encap: string; name: string }[];
    try {
      await ensureBridge(this.ovsdb, { name: o.bridge, datapathType: o.datapathType, protocols: ['OpenFlow13'], failMode: 'secure' });
      // Once the bridge is there, its table names and its tunnel ports at once: they write different rows (each
      // transaction guards what it read), and on a fresh host this is the start's path to its first flows.
      const named = nameTables(this.ovsdb, o.bridge, o.tableNames);
      const rows = o.encaps.map(async (encap) => ({
        encap,
        name: await ensureTunnelPortRow(this.ovsdb, o.bridge, { type: encap, localIp: o.tunnelIp }),
      }));
      [, tunnels] = await Promise.all([named, Promise.all(rows)]);
      await this.preparePhysnets(gen);
    } catch (err) {
      // Lost the session: its reconnect prepares again. Anything else: retry while connected.
      if (this.closed || !this.ovsdb.connected) return;
      this.log.error({ err }, 'switch setup failed; retrying');
      this.waitingSeen = true;
      this.emit('waiting', 'bridge');
      this.retryTimer = setTimeout(() => this.requestPrepare(), PREPARE_RETRY_MS);
      return;
    }
    if (gen !== this.prepareGen) return;
    this.setBridgeReady(true);
    this.emit('prepared');
    this.ofportWait?.abort();
    const ac = new AbortController();
    this.ofportWait = ac;
    const pending = new Set(tunnels.map((t) => t.encap));
    for (const t of tunnels) {
      void this.learnTunnelOfport(t.encap, t.name, ac).then((ok) => {
        if (!ok) return;
        pending.delete(t.encap);
        if (pending.size === 0 && !ac.signal.aborted) this.tunnel = 'ready';
      });
    }
  }

  /**
   * The patch ports of bridge_mappings: pairs made or repaired, stale ones deleted, the br-int side's ofport
   * learned (within the grace time, so a restarted agent computes its first flows with them; later otherwise).
   * A mapped bridge that does not exist is reported (status, one warning) and its pair made once it appears.
   */
  private async preparePhysnets(gen: number): Promise<void> {
    const mappings = this.opts.bridgeMappings ?? {};
    if (Object.keys(mappings).length === 0) return;
    if (!this.bridgeMonitor) {
      // Bridges come and go (a mapped one created later); an owned patch port deleted by hand comes back.
      const db = await this.ovsdb.monitor('Open_vSwitch', {
        ...UPLINK_MONITOR,
        Port: [...UPLINK_MONITOR.Port, 'external_ids'],
      });
      this.bridgeMonitor = db;
      const uplinks = () => this.checkUplinks(db);
      for (const ev of ['rowAdded', 'rowChanged', 'rowRemoved', 'resync']) db.on(ev, uplinks);
      uplinks();
      const again = (table: string, _uuid: string, row: Row) => {
        if (this.closed) return;
        if (table === 'Bridge' || stringMap(row.external_ids)[PHYSNET_KEY] !== undefined) this.requestPrepare();
      };
      db.on('rowAdded', (table: string, uuid: string, row: Row) => {
        if (table === 'Bridge') again(table, uuid, row);
      });
      db.on('rowRemoved', again);
    }
    const r = await ensurePatchPorts(this.ovsdb, this.opts.bridge, mappings);
    if (r.removed.length > 0) this.log.info({ ports: r.removed }, 'stale patch ports removed (their bridge mapping is gone)');
    let changed = false;
    for (const [physnet, bridge] of r.missingBridges) {
      if (this.physnetState.get(physnet) !== 'bridge missing')
        this.log.warn(
          { physnet, bridge },
          'bridge of a bridge mapping does not exist; ports of its provider networks are not bound here until it does',
        );
      this.physnetState.set(physnet, 'bridge missing');
      if (this.physnetOfports.delete(physnet)) changed = true;
    }
    const learned = await Promise.all(
      [...r.ready].map(async ([physnet, port]) => {
        try {
          return [physnet, await waitOfport(this.ovsdb, port, this.opts.ofportGraceMs ?? 1_000)] as const;
        } catch {
          return [physnet, undefined] as const;
        }
      }),
    );
    if (gen !== this.prepareGen) {
      // Superseded (the newer preparation learns the ofports), but what changed above is said now.
      if (changed) this.emit('physnetOfports', new Map(this.physnetOfports));
      return;
    }
    for (const [physnet, ofport] of learned) {
      const before = this.physnetState.get(physnet);
      if (ofport === undefined) {
        // ovs-vswitchd away: its return starts a new OpenFlow session, which prepares again. A known ofport is
        // kept meanwhile (a restarted ovs-vswitchd gives the port its number back): flows and bindings stay.
        this.physnetState.set(physnet, 'waiting for ovs-vswitchd');
        continue;
      }
      this.physnetState.set(physnet, 'ready');
      if (before === 'bridge missing')
        this.log.info({ physnet, bridge: mappings[physnet], ofport }, 'bridge of a bridge mapping is there now');
      if (this.physnetOfports.get(physnet) !== ofport) {
        this.physnetOfports.set(physnet, ofport);
        changed = true;
      }
    }
    if (changed) this.emit('physnetOfports', new Map(this.physnetOfports));
  }

  /**
   * Waits on the server for the tunnel's ofport. ovs-vswitchd assigns it; while ovs-vswitchd is away the wait
   * times out, the status says so (one warning), and the wait is re-issued: the reply comes the moment the
   * daemon is back, with no polling.
   */
  private async learnTunnelOfport(encap: string, name: string, ac: AbortController): Promise<boolean> {
    let timeout = this.opts.ofportGraceMs ?? 1_000;
    while (!ac.signal.aborted && !this.closed) {
      let ofport: number;
      try {
        ofport = await waitOfport(this.ovsdb, name, timeout, { signal: ac.signal });
      } catch (err) {
        const timedOut = err instanceof OvsdbError && err.code === 'transaction' && err.extra.error === 'timed out';
        if (!timedOut || ac.signal.aborted) {
          // Disconnected or cancelled: the next preparation starts over. A refused port is worth a line.
          if (!ac.signal.aborted && this.ovsdb.connected) this.log.warn({ err, port: name }, 'tunnel port has no ofport');
          return false;
        }
        this.tunnel = 'waiting for ovs-vswitchd';
        if (this.tunnelWarned === undefined) {
          this.tunnelWarned = Date.now();
          this.log.warn(
            { port: name, bridge: this.opts.bridge },
            'ovs-vswitchd has not taken the tunnel port: is it running? waiting for it',
          );
        }
        timeout = OFPORT_WAIT_MS;
        continue;
      }
      if (this.tunnelWarned !== undefined)
        this.log.info({ port: name, ofport, afterMs: Date.now() - this.tunnelWarned }, 'tunnel port ready');
      this.tunnelWarned = undefined;
      if (ofport !== this.tunnelOfports.get(encap)) {
        this.tunnelOfports.set(encap, ofport);
        this.emit('tunnelOfport', encap, ofport);
      }
      return true;
    }
    return false;
  }
}
