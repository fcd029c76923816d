/**
 * OfChannel: the agent's connection to its switch. Dials the endpoint (unix socket such as br-int.mgmt, TCP or
 * CA-verified TLS), runs the handshake, and keeps a session up until stop(): when the session drops (socket
 * closed, dead peer, framing error) it reconnects with exponential backoff and announces each new session.
 * For a unix socket (br-int.mgmt) the backoff is short (local connects are free) and the socket's directory is
 * watched while away, so a restarted ovs-vswitchd is dialled the moment it binds its socket again.
 *
 * State machine: idle → connecting → handshaking → up → (backoff → connecting …) ; stop() → stopped from any.
 * Events: 'up' ({ features, session }) after every FEATURES_REPLY, 'down' (reason) when an up session ends,
 * 'message' (msg) for unsolicited messages, 'connectError' (err) for failed attempts (informational).
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { FlowStats, OfMessage } from '../types.js';
import { silentLogger, type Logger } from '../../util/log.js';
import { Backoff } from '../../util/backoff.js';
import { NET_RECONNECT, UNIX_RECONNECT, watchSocket, type DirWatchFn } from '../../util/socket-watch.js';
import type { BundleOptions } from './bundle.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { dial, formatEndpoint, parseEndpoint, type Endpoint, type TlsFiles } from './endpoint.js';
import { OfChannelDownError } from './errors.js';
import { OfSession, type FeaturesReply, type FlowFilter } from './session.js';
import { explainTlsError } from '../../util/tls-errors.js';

export interface OfChannelOptions {
  endpoint: string;
  tls?: TlsFiles;
  echoIntervalMs?: number;
  echoTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Reconnect backoff. Default: unix 50–250 ms (plus the socket watch), tcp/ssl 100 ms–1 s. */
  reconnect?: { minMs: number; maxMs: number };
  /** For unix endpoints: watch the socket's directory while reconnecting (default on); false turns it off,
   *  a function replaces fs.watch (tests). */
  watchSocket?: boolean | DirWatchFn;
  /** SET_CONFIG miss_send_len after each handshake (see SessionOptions); default 0xffff. */
  missSendLen?: number | null;
  /** PACKET_IN format asked for after each handshake (see SessionOptions); default 'standard'. */
  packetInFormat?: 'standard' | 'nxt_packet_in2';
  logger?: Logger;
  /** For tests: the clock behind timeouts, keepalive and backoff. */
  clock?: Clock;
  /** For tests: opens the byte stream instead of a real socket. */
  dial?: (ep: Endpoint) => Promise<Duplex>;
}

export type ChannelState = 'idle' | 'connecting' | 'handshaking' | 'up' | 'backoff' | 'stopped';

export interface UpEvent {
  features: FeaturesReply;
  session: number;
}

export class OfChannel extends EventEmitter {
  private readonly opts: OfChannelOptions;
  private readonly ep: Endpoint;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private current: OfSession | undefined;
  private retryTimer: TimerHandle | undefined;
  private socketWatch: { close(): void } | undefined;
  /** The socket changed while an attempt was in flight: if that attempt fails, retry at once. */
  private wokenDuringAttempt = false;
  private sessions = 0;
  private attempts = 0;
  private stateValue: ChannelState = 'idle';

  constructor(opts: OfChannelOptions) {
    super();
    this.opts = opts;
    this.ep = parseEndpoint(opts.endpoint);
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger).child({ ofChannel: formatEndpoint(this.ep) });
    this.backoff = new Backoff(opts.reconnect ?? (this.ep.kind === 'unix' ? UNIX_RECONNECT : NET_RECONNECT));
  }

  /** The endpoint dialled, in OVS syntax. */
  get endpoint(): string {
    return formatEndpoint(this.ep);
  }

  get state(): ChannelState {
    return this.stateValue;
  }

  get isUp(): boolean {
    return this.stateValue === 'up';
  }

  get features(): FeaturesReply | undefined {
    return this.isUp ? this.current?.features : undefined;
  }

  /** Number of sessions that came up so far (the number carried by the latest 'up'). */
  get sessionCount(): number {
    return this.sessions;
  }

  /** Connects and keeps reconnecting until stop(). Idempotent. */
  start(): void {
    if (this.stateValue !== 'idle' && this.stateValue !== 'stopped') return;
    this.stateValue = 'connecting';
    void this.connect();
  }

  /** Stops reconnecting and closes the session; pending requests reject with OfChannelDownError. */
  async stop(): Promise<void> {
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.unwatch();
    const s = this.current;
    this.stateValue = 'stopped';
    if (s) {
      s.close('channel stopped');
      await s.closed();
    }
  }

  send(msg: OfMessage): Promise<void> {
    return this.withSession((s) => s.send(msg));
  }

  request<T extends OfMessage>(msg: OfMessage, opts?: { timeoutMs?: number }): Promise<T> {
    return this.withSession((s) => s.request<T>(msg, opts));
  }

  /** Sends msg plus a barrier; rejects with the switch's ERROR for msg (for messages with no success reply). */
  sendChecked(msg: OfMessage, opts?: { timeoutMs?: number }): Promise<void> {
    return this.withSession((s) => s.sendChecked(msg, opts));
  }

  multipart(req: OfMessage, opts?: { timeoutMs?: number }): Promise<OfMessage[]> {
    return this.withSession((s) => s.multipart(req, opts));
  }

  dumpFlows(filter?: FlowFilter): Promise<FlowStats[]> {
    return this.withSession((s) => s.dumpFlows(filter));
  }

  barrier(opts?: { timeoutMs?: number }): Promise<void> {
    return this.withSession((s) => s.barrier(opts));
  }

  bundle(msgs: OfMessage[], opts?: BundleOptions): Promise<void> {
    return this.withSession((s) => s.bundle(msgs, opts));
  }

  private withSession<T>(fn: (s: OfSession) => Promise<T>): Promise<T> {
    const s = this.current;
    if (!s || !s.isUp || this.stateValue !== 'up') return Promise.reject(new OfChannelDownError(`not connected (${this.stateValue})`));
    return fn(s);
  }

  private async connect(): Promise<void> {
    this.attempts++;
    let socket: Duplex;
    try {
      socket = await (this.opts.dial ? this.opts.dial(this.ep) : dial(this.ep, this.opts.tls));
    } catch (err) {
      this.attemptFailed(err as Error);
      return;
    }
    if (this.stateValue === 'stopped') {
      socket.destroy();
      return;
    }
    this.stateValue = 'handshaking';
    const s = new OfSession(socket, {
      session: this.sessions + 1,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      echoIntervalMs: this.opts.echoIntervalMs,
      echoTimeoutMs: this.opts.echoTimeoutMs,
      missSendLen: this.opts.missSendLen,
      packetInFormat: this.opts.packetInFormat,
      clock: this.clock,
      logger: this.log,
    });
    this.current = s;
    s.on('message', (msg: OfMessage) => this.emit('message', msg));
    s.on('decodeError', (err: Error, bytes: Buffer) => this.emit('decodeError', err, bytes));
    let wasUp = false;
    s.once('down', (reason: string) => {
      if (this.current === s) this.current = undefined;
      if (wasUp) {
        this.log.warn({ reason, session: s.session }, 'OpenFlow session down');
        if (this.stateValue === 'up') this.stateValue = 'connecting';
        this.emitSafe('down', reason);
      }
      if (this.stateValue !== 'stopped' && wasUp) this.scheduleRetry(0);
    });
    let features: FeaturesReply;
    try {
      features = await s.handshake();
    } catch (err) {
      this.attemptFailed(err as Error);
      return;
    }
    if (this.isStopped() || s.isClosed) return;
    wasUp = true;
    this.sessions++;
    this.attempts = 0;
    this.backoff.reset();
    this.unwatch();
    this.stateValue = 'up';
    this.log.info({ session: this.sessions, datapathId: features.datapathId.toString(16) }, 'OpenFlow session up');
    this.emitSafe('up', { features, session: this.sessions } satisfies UpEvent);
  }

  private attemptFailed(err: Error): void {
    if (this.stateValue === 'stopped') return;
    // A TLS refusal will not heal by retrying: say why at warn level (it still retries: certificates get fixed).
    const tls = explainTlsError(err);
    if (tls) this.log.warn({ reason: `TLS failed: ${tls}`, attempt: this.attempts }, 'OpenFlow connect attempt failed');
    else this.log.debug({ err: err.message, attempt: this.attempts }, 'OpenFlow connect attempt failed');
    if (this.listenerCount('connectError') > 0) this.emitSafe('connectError', err);
    const woken = this.wokenDuringAttempt;
    this.wokenDuringAttempt = false;
    this.scheduleRetry(woken ? 0 : this.backoff.next());
  }

  /** After an up session drops, the first retry is immediate (a restarted switch is usually back at once). */
  private scheduleRetry(delayMs: number): void {
    if (this.retryTimer !== undefined || this.stateValue === 'stopped') return;
    this.stateValue = 'backoff';
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      if (this.stateValue === 'stopped') return;
      this.stateValue = 'connecting';
      void this.connect();
    }, delayMs);
    this.watch();
  }

  /** While away from a unix socket, its (re)appearance cuts the backoff short. */
  private watch(): void {
    const w = this.opts.watchSocket ?? true;
    if (this.socketWatch || w === false || this.ep.kind !== 'unix') return;
    this.socketWatch = watchSocket(this.ep.path, () => this.wake(), typeof w === 'function' ? w : undefined);
  }

  private unwatch(): void {
    this.socketWatch?.close();
    this.socketWatch = undefined;
    this.wokenDuringAttempt = false;
  }

  private wake(): void {
    if (this.stateValue === 'stopped' || this.stateValue === 'up') return;
    // A fresh socket restarts the backoff: the daemon may need a few ms between bind and listen.
    this.backoff.reset();
    if (this.retryTimer === undefined) {
      this.wokenDuringAttempt = true;
      return;
    }
    this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.stateValue = 'connecting';
    void this.connect();
  }

  /** Re-reads the state after an await (where TypeScript's narrowing would go stale). */
  private isStopped(): boolean {
    return this.stateValue === 'stopped';
  }

  private emitSafe(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      this.log.error({ err, event }, 'OfChannel listener threw');
    }
  }
}
