/**
 * One OpenFlow 1.3 connection to a switch, from the controller's side, whoever dialled: version negotiation,
 * FEATURES handshake, framing, echo keepalive with dead-peer detection, xid allocation, request/reply
 * correlation with deadlines, multipart reassembly and back-pressured writes. It never reconnects: OfChannel
 * (dialling) and OfListener (accepting) own sessions and replace them.
 *
 * Events: 'message' (msg) for everything no request claimed (PACKET_IN, PORT_STATUS, FLOW_REMOVED, ERRORs of
 * fire-and-forget sends …), 'decodeError' (err, bytes) for undecodable messages (the session stays up),
 * 'down' (reason) once when the session ends.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { decodeMessage, encodeMessage } from '../index.js';
import type { ErrorMsg, FlowStats, MessageOf, OfMessage } from '../types.js';
import { silentLogger, type Logger } from '../../util/log.js';
import { systemClock, type Clock } from './clock.js';
import { Keepalive } from './keepalive.js';
import { OfChannelDownError, OfHelloError } from './errors.js';
import { Framer } from './framer.js';
import { PendingRequests } from './pending.js';
import { describeError, echoReplyFor, echoRequestBytes, helloBytes, helloFailedBytes, msgType, msgXid, negotiate, RAW } from './raw.js';
import { XidAllocator } from './xid.js';
import { runBundle, type BundleOptions } from './bundle.js';

export type FeaturesReply = MessageOf<'FEATURES_REPLY'>;

export interface FlowFilter {
  tableId?: number;
  cookie?: bigint;
  cookieMask?: bigint;
}

export interface SessionOptions {
  /** Default deadline of request(), multipart(), barrier(); also bounds the handshake. Default 10 s. */
  requestTimeoutMs?: number;
  /** Send an ECHO_REQUEST this often. Default 5 s; 0 disables keepalive. */
  echoIntervalMs?: number;
  /** Declare the peer dead after this long without receiving a byte. Default 15 s. */
  echoTimeoutMs?: number;
  /**
   * miss_send_len sent in SET_CONFIG after FEATURES. OVS gives a service connection (br-int.mgmt, like
   * ovn-controller uses) no PACKET_INs at all until it sets a nonzero miss_send_len. Default 0xffff
   * (OFPCML_NO_BUFFER: whole packets); null sends no SET_CONFIG.
   */
  missSendLen?: number | null;
  /**
   * 'nxt_packet_in2' asks OVS (NXT_SET_PACKET_IN_FORMAT) for NXT_PACKET_IN2, the only PACKET_IN that carries a
   * controller action's userdata; sent in the handshake, before anything the caller sends. Default 'standard'.
   */
  packetInFormat?: 'standard' | 'nxt_packet_in2';
  clock?: Clock;
  logger?: Logger;
  /** Session number, for logs and the 'up' event. */
  session?: number;
}

type State = 'hello' | 'features' | 'up' | 'closed';

const OFPTT_ALL = 0xff;
/** NXT_SET_PACKET_IN_FORMAT value for NXT_PACKET_IN2. */
const NXPIF_NXT_PACKET_IN2 = 2;
const OFPP_ANY = 0xffffffff;
const OFPG_ANY = 0xffffffff;
/** Writes are coalesced into chunks of about this size (one syscall each). */
const WRITE_CHUNK = 256 * 1024;

export class OfSession extends EventEmitter {
  readonly session: number;
  features: FeaturesReply | undefined;
  /** Why the session ended, once it has. */
  closeReason: string | undefined;

  private state: State = 'hello';
  private readonly socket: Duplex;
  private readonly framer = new Framer();
  private readonly xids = new XidAllocator();
  private readonly pending: PendingRequests;
  private readonly clock: Clock;
  private readonly log: Logger;
  readonly requestTimeoutMs: number;
  private readonly missSendLen: number | null;
  private readonly packetInFormat: 'standard' | 'nxt_packet_in2';
  private readonly keepalive: Keepalive;
  private drainWaiters: Array<{ resolve(): void; reject(e: Error): void }> = [];
  private helloWaiter: { resolve(): void; reject(e: Error): void } | undefined;
  private nextBundleId = 1;
  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  };
  /** Consulted for ERRORs that no request claims (a bundle watches its messages' xids this way). */
  readonly errorSinks = new Set<(err: ErrorMsg) => boolean>();

  constructor(socket: Duplex, opts: SessionOptions = {}) {
    super();
    this.socket = socket;
    this.session = opts.session ?? 0;
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger).child({ ofSession: this.session });
    this.pending = new PendingRequests(this.clock);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    const echoTimeoutMs = opts.echoTimeoutMs ?? 15_000;
    this.keepalive = new Keepalive(
      this.clock,
      opts.echoIntervalMs ?? 5_000,
      echoTimeoutMs,
      () => this.socket.write(echoRequestBytes(this.allocXid())),
      (idle) => this.close(`peer dead: nothing received for ${idle} ms (echo timeout ${echoTimeoutMs} ms)`),
    );
    this.missSendLen = opts.missSendLen === undefined ? 0xffff : opts.missSendLen;
    this.packetInFormat = opts.packetInFormat ?? 'standard';
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.settleDrain());
    socket.on('end', () => this.close('peer closed the connection'));
    socket.on('close', () => this.close('connection closed'));
    socket.on('error', (err: Error) => this.close(`socket error: ${err.message}`));
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Requests awaiting a reply (for tests and metrics). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * HELLO exchange (OpenFlow 1.3 only), then FEATURES_REQUEST; resolves with the FEATURES_REPLY once the
   * session is up. On failure the session is closed and the promise rejects.
   */
  async handshake(): Promise<FeaturesReply> {
    const deadline = this.clock.setTimeout(() => this.close('handshake timed out'), this.requestTimeoutMs);
    try {
      const helloSeen = new Promise<void>((resolve, reject) => (this.helloWaiter = { resolve, reject }));
      helloSeen.catch(() => undefined); // may reject (session closed) before we reach the await below
      await this.writeRaw(helloBytes(this.xids.allocate()));
      await helloSeen;
      this.state = 'features';
      const features = await this.exchange<FeaturesReply>({ type: 'FEATURES_REQUEST', xid: 0 }, this.requestTimeoutMs);
      if (this.isClosed) throw new OfChannelDownError(this.closeReason ?? 'closed');
      if (this.missSendLen !== null) {
        // No reply on success; an ERROR would arrive unsolicited. Ordered before anything the caller sends.
        await this.writeRaw(encodeMessage({ type: 'SET_CONFIG', xid: this.allocXid(), flags: 0, missSendLen: this.missSendLen }));
      }
      if (this.packetInFormat === 'nxt_packet_in2') {
        await this.writeRaw(encodeMessage({ type: 'NX_SET_PACKET_IN_FORMAT', xid: this.allocXid(), format: NXPIF_NXT_PACKET_IN2 }));
      }
      this.features = features;
      this.state = 'up';
      this.keepalive.start();
      this.log.debug({ datapathId: features.datapathId.toString(16) }, 'OpenFlow session up');
      return features;
    } catch (err) {
      this.close(`handshake failed: ${(err as Error).message}`);
      throw err;
    } finally {
      this.clock.clearTimeout(deadline);
    }
  }

  /** Writes one message (xid assigned if 0); resolves once the socket accepted it without exceeding its buffer. */
  send(msg: OfMessage): Promise<void> {
    if (!this.isUp) return Promise.reject(this.downError());
    let bytes: Buffer;
    try {
      bytes = encodeMessage(msg.xid ? msg : { ...msg, xid: this.allocXid() });
    } catch (err) {
      return Promise.reject(err);
    }
    return this.writeRaw(bytes);
  }

  /** Sends msg and resolves with the reply carrying its xid; an ERROR with that xid rejects (OfpErrorMessage). */
  request<T extends OfMessage>(msg: OfMessage, opts: { timeoutMs?: number } = {}): Promise<T> {
    if (!this.isUp) return Promise.reject(this.downError());
    return this.exchange<T>(msg, opts.timeoutMs ?? this.requestTimeoutMs);
  }

  /**
   * For messages the switch answers only when they fail (FLOW_MOD, GROUP_MOD, PACKET_OUT …): sends msg and a
   * barrier; resolves when the barrier reply arrives with no ERROR for msg, rejects with OfpErrorMessage if the
   * switch refused it (its ERROR precedes the barrier reply: the switch answers in order).
   */
  async sendChecked(msg: OfMessage, opts: { timeoutMs?: number } = {}): Promise<void> {
    if (!this.isUp) throw this.downError();
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    const xid = msg.xid || this.allocXid();
    const bytes = encodeMessage(msg.xid === xid ? msg : { ...msg, xid });
    const outcome = this.pending.wait(xid, { timeoutMs, what: msg.type });
    outcome.catch(() => undefined);
    await this.writeRaw(bytes).catch((err: Error) => this.pending.cancel(xid, err));
    const barrier = this.exchange({ type: 'BARRIER_REQUEST', xid: 0 }, timeoutMs);
    barrier.catch(() => undefined);
    // Whichever settles first: the message's own ERROR (or reply), or the barrier reply meaning "accepted".
    await Promise.race([outcome, barrier]);
    if (this.pending.has(xid)) this.pending.resolveEmpty(xid);
    await outcome;
  }

  /** Sends a MULTIPART_REQUEST and collects every MULTIPART_REPLY until one clears the "more" flag. */
  async multipart(req: OfMessage, opts: { timeoutMs?: number } = {}): Promise<OfMessage[]> {
    if (!this.isUp) throw this.downError();
    return this.transact(req, opts.timeoutMs ?? this.requestTimeoutMs, true);
  }

  async dumpFlows(filter: FlowFilter = {}): Promise<FlowStats[]> {
    const replies = await this.multipart({
      type: 'MULTIPART_REQUEST',
      xid: 0,
      flags: 0,
      body: {
        kind: 'flow',
        tableId: filter.tableId ?? OFPTT_ALL,
        outPort: OFPP_ANY,
        outGroup: OFPG_ANY,
        cookie: filter.cookie ?? 0n,
        cookieMask: filter.cookieMask ?? 0n,
        match: [],
      },
    });
    const flows: FlowStats[] = [];
    for (const r of replies) {
      if (r.type === 'MULTIPART_REPLY' && r.body.kind === 'flow') for (const f of r.body.flows) flows.push(f);
    }
    return flows;
  }

  async barrier(opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.request({ type: 'BARRIER_REQUEST', xid: 0 }, opts);
  }

  /** Open, add each message, commit — as one call. See bundle.ts for the error semantics. */
  bundle(msgs: OfMessage[], opts: BundleOptions = {}): Promise<void> {
    if (!this.isUp) return Promise.reject(this.downError());
    return runBundle(this, msgs, opts);
  }

  /** Ends the session (idempotent): pending requests reject with OfChannelDownError, 'down' is emitted once. */
  close(reason: string, opts: { flush?: boolean } = {}): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = reason;
    this.keepalive.stop();
    const err = new OfChannelDownError(reason);
    this.helloWaiter?.reject(err);
    this.helloWaiter = undefined;
    this.pending.failAll(err);
    const drains = this.drainWaiters;
    this.drainWaiters = [];
    for (const d of drains) d.reject(err);
    if (opts.flush) {
      // Let a last message (HELLO_FAILED) reach the peer before the connection goes.
      this.socket.uncork();
      this.socket.end();
      const t = setTimeout(() => this.socket.destroy(), 1_000);
      t.unref();
      this.socket.once('close', () => clearTimeout(t));
    } else {
      this.socket.destroy();
    }
    this.log.debug({ reason }, 'OpenFlow session down');
    this.emitSafe('down', reason);
  }

  /** Resolves when the socket is fully closed (after close()). */
  closed(): Promise<void> {
    if (this.socket.destroyed && (this.socket as { closed?: boolean }).closed !== false) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  // ---- internals shared with bundle.ts -------------------------------------------------------------------

  allocXid(): number {
    return this.xids.allocate((x) => this.pending.has(x));
  }

  allocBundleId(): number {
    const id = this.nextBundleId;
    this.nextBundleId = (this.nextBundleId + 1) >>> 0 || 1;
    return id;
  }

  /** The xid allocator, for bundles that need a contiguous block. */
  get xidAllocator(): XidAllocator {
    return this.xids;
  }

  /** Writes raw bytes, resolving when the socket's buffer is below its high-water mark. */
  writeRaw(bytes: Buffer): Promise<void> {
    if (this.state === 'closed') return Promise.reject(this.downError());
    if (!this.corked) {
      // Writes made in the same tick (a burst of send()s) leave in one writev instead of one syscall each.
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    if (this.socket.write(bytes)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  /**
   * Encodes and writes many messages, coalescing them into large writes and waiting for 'drain' whenever the
   * socket's buffer is full: pipelined, never one round trip per message, never unbounded buffering.
   */
  async writeMany(count: number, encodeAt: (i: number) => Buffer): Promise<void> {
    let chunk = Buffer.allocUnsafe(WRITE_CHUNK);
    let used = 0;
    for (let i = 0; i < count; i++) {
      const b = encodeAt(i);
      if (used + b.length > chunk.length) {
        if (used > 0) await this.writeRaw(chunk.subarray(0, used));
        chunk = Buffer.allocUnsafe(Math.max(WRITE_CHUNK, b.length));
        used = 0;
      }
      b.copy(chunk, used);
      used += b.length;
    }
    if (used > 0) await this.writeRaw(chunk.subarray(0, used));
  }

  /** Registers a waiter for msg's reply (xid assigned if 0), writes msg, resolves with the reply. */
  async exchange<T extends OfMessage>(msg: OfMessage, timeoutMs: number): Promise<T> {
    return (await this.transact(msg, timeoutMs, false))[0] as T;
  }

  private async transact(msg: OfMessage, timeoutMs: number, multipart: boolean): Promise<OfMessage[]> {
    const xid = msg.xid || this.allocXid();
    const bytes = encodeMessage(msg.xid === xid ? msg : { ...msg, xid });
    const reply = this.pending.wait(xid, { timeoutMs, what: msg.type, multipart });
    // The reply may reject (session drop) while we still await the write: mark it handled now, await it below.
    reply.catch(() => undefined);
    try {
      await this.writeRaw(bytes);
    } catch (err) {
      this.pending.cancel(xid, err as Error);
    }
    return reply;
  }

  private downError(): OfChannelDownError {
    return new OfChannelDownError(this.closeReason ?? (this.state === 'closed' ? 'closed' : 'session not up yet'));
  }

  private settleDrain(): void {
    const drains = this.drainWaiters;
    this.drainWaiters = [];
    for (const d of drains) d.resolve();
  }

  private onData(chunk: Buffer): void {
    this.keepalive.touch();
    try {
      this.framer.push(chunk, (frame) => this.onFrame(frame));
    } catch (err) {
      this.close((err as Error).message);
    }
  }

  private onFrame(frame: Buffer): void {
    if (this.state === 'closed') return;
    const type = msgType(frame);
    if (this.state === 'hello') {
      if (type !== RAW.HELLO) {
        this.close(`expected HELLO, got ${type === RAW.ERROR ? describeError(frame) : `message type ${type}`}`);
        return;
      }
      if (negotiate(frame) === undefined) {
        const why = `peer does not speak OpenFlow 1.3 (HELLO version ${frame[0]})`;
        this.socket.write(helloFailedBytes(msgXid(frame), why));
        this.helloWaiter?.reject(new OfHelloError(why));
        this.helloWaiter = undefined;
        this.close(why, { flush: true });
        return;
      }
      this.helloWaiter?.resolve();
      this.helloWaiter = undefined;
      return;
    }
    switch (type) {
      case RAW.HELLO:
        return;
      case RAW.ECHO_REQUEST:
        this.socket.write(echoReplyFor(frame));
        return;
      case RAW.ECHO_REPLY:
        // Liveness is any received byte (Keepalive.touch); only a caller's request(ECHO_REQUEST) waits for one.
        if (!this.pending.has(msgXid(frame))) return;
        break;
      default:
        break;
    }
    let msg: OfMessage;
    try {
      msg = decodeMessage(frame);
    } catch (err) {
      this.log.warn({ err, type, xid: msgXid(frame) }, 'undecodable OpenFlow message');
      if (!this.pending.fail(msgXid(frame), err as Error)) this.emitSafe('decodeError', err, Buffer.from(frame));
      return;
    }
    if (msg.type === 'ERROR' && this.errorSinks.size > 0) {
      for (const sink of this.errorSinks) if (sink(msg)) return;
    }
    if (this.pending.deliver(msg)) return;
    this.emitSafe('message', msg);
  }

  /** A throwing listener must not be mistaken for a protocol error and tear the session down. */
  private emitSafe(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      this.log.error({ err, event }, 'OpenFlow session listener threw');
    }
  }
}
