/**
 * gRPC over node:http2, as much of it as etcd needs: unary calls and bidirectional streams of
 * length-prefixed messages, status in trailers (or in the headers of a trailers-only answer), deadlines, and
 * metadata. One HTTP/2 session per endpoint, opened on demand and forgotten when it closes (the next call
 * dials again: that is the reconnect). Several endpoints: a call whose connection could not be made moves on
 * to the next member, and the member that failed stops being the preferred one.
 */
import http2 from 'node:http2';
import { EventEmitter } from 'node:events';

export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const NAMES = Object.fromEntries(Object.entries(GrpcStatus).map(([k, v]) => [v, k])) as Record<number, string>;

/** A call's failure: a gRPC status from the server, or one we give a transport failure (UNAVAILABLE, DEADLINE_EXCEEDED). */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
    /** The request never reached the server (no connection, or a stream the server refused): safe to send elsewhere. */
    readonly unsent = false,
    options?: { cause?: unknown },
  ) {
    super(`${code} ${NAMES[code] ?? 'UNKNOWN'}: ${details}`, options);
    this.name = 'GrpcError';
  }
}

/** The client was closed. */
export class ChannelClosedError extends Error {
  constructor(what: string) {
    super(`${what}: the etcd client is closed`);
    this.name = 'ChannelClosedError';
  }
}

export interface ChannelOptions {
  /** host:port of each member. */
  endpoints: string[];
  /** PEM contents; with it the channel speaks TLS (https). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Time allowed to establish a connection (ms). */
  connectTimeoutMs: number;
  /**
   * While streams run on a connection, an HTTP/2 PING every this many ms, and the connection is dropped when one
   * is not answered within as long (default 5000): a member that hangs or is cut off (no RST, no FIN) would
   * otherwise keep its watch streams silent for good. Unary calls have their deadline instead.
   */
  keepaliveMs?: number;
}

export interface CallOptions {
  timeoutMs: number;
  metadata?: Record<string, string>;
  /** Safe to repeat on another member after any UNAVAILABLE (reads), not only when unsent. */
  idempotent?: boolean;
}

/** Pauses between rounds of a read that every member answered with a leader change (about 1.5 s in all). */
const ELECTION_RETRY_MS = [50, 100, 200, 400, 800];

/** etcd's answer to a request that met a leader election: no data was read or written, a retry will work. */
const isLeaderChange = (err: unknown): boolean =>
  err instanceof GrpcError && err.code === GrpcStatus.UNAVAILABLE && !err.unsent && /leader changed/.test(err.details);

/** The 5-byte gRPC message prefix (uncompressed) and the message. */
export function frame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

/** Reassembles gRPC messages from DATA chunks. */
export class FrameParser {
  private pending: Buffer | undefined;

  push(chunk: Buffer): Buffer[] {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    while (buf.length >= 5) {
      if (buf[0] !== 0) throw new GrpcError(GrpcStatus.INTERNAL, `compressed gRPC message (flag ${buf[0]}) though none was accepted`);
      const len = buf.readUInt32BE(1);
      if (buf.length < 5 + len) break;
      out.push(buf.subarray(5, 5 + len));
      buf = buf.subarray(5 + len);
    }
    this.pending = buf.length ? buf : undefined;
    return out;
  }
}

function decodeMessage(v: unknown): string {
  if (typeof v !== 'string') return '';
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** The status carried by a headers or trailers block, if it carries one. */
function statusOf(h: http2.IncomingHttpHeaders): GrpcError | 'ok' | undefined {
  const s = h['grpc-status'];
  if (s === undefined) return undefined;
  const code = Number(s);
  if (code === 0) return 'ok';
  return new GrpcError(code, decodeMessage(h['grpc-message']) || 'no message');
}

function transportError(ep: string, err: unknown, unsent: boolean): GrpcError {
  const e = err as NodeJS.ErrnoException;
  const why = [e?.code, e?.message].filter(Boolean).join(' ');
  // Node wraps the session's failure as the cause of a cancelled pending stream: name both.
  const cause = (e?.cause as Error | undefined)?.message;
  return new GrpcError(GrpcStatus.UNAVAILABLE, `${ep}: ${why}${cause && !why.includes(cause) ? ` (${cause})` : ''}`, unsent, {
    cause: err,
  });
}

interface Session {
  s: http2.ClientHttp2Session;
  ready: Promise<http2.ClientHttp2Session>;
  streams: number;
  keepalive?: NodeJS.Timeout;
}

export class GrpcChannel {
  private readonly sessions = new Map<string, Session>();
  private preferred = 0;
  private closed = false;

  constructor(private readonly opts: ChannelOptions) {
    if (opts.endpoints.length === 0) throw new Error('no etcd endpoints');
    // Clients start on a random member, so the agents of a cluster spread their connections over its members.
    this.preferred = Math.floor(Math.random() * opts.endpoints.length);
  }

  get endpoints(): readonly string[] {
    return this.opts.endpoints;
  }

  private session(ep: string, timeoutMs: number): Promise<http2.ClientHttp2Session> {
    if (this.closed) return Promise.reject(new ChannelClosedError('connect'));
    const have = this.sessions.get(ep);
    if (have && !have.s.destroyed && !have.s.closed) return have.ready;
    const tls = this.opts.tls;
    const s = http2.connect(`${tls ? 'https' : 'http'}://${ep}`, {
      ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, ALPNProtocols: ['h2'] } : {}),
      settings: { enablePush: false },
    });
    const entry: Session = { s, ready: undefined as never, streams: 0 };
    const forget = (): void => {
      if (this.sessions.get(ep) === entry) this.sessions.delete(ep);
    };
    entry.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        s.destroy();
        reject(new GrpcError(GrpcStatus.UNAVAILABLE, `${ep}: no connection within ${timeoutMs} ms`, true));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.on('error', (err) => {
        clearTimeout(timer);
        forget();
        reject(transportError(ep, err, true));
      });
      s.once('close', () => {
        clearTimeout(timer);
        forget();
        reject(new GrpcError(GrpcStatus.UNAVAILABLE, `${ep}: connection closed`, true));
      });
      s.once('goaway', forget);
    });
    s.once('close', () => clearInterval(entry.keepalive));
    entry.ready.catch(() => undefined);
    s.unref(); // idle sessions do not keep a process alive; a stream in use does (use() below)
    this.sessions.set(ep, entry);
    return entry.ready;
  }

  /** Counts a stream on its session so the session keeps the process alive while streams run. */
  private use(ep: string, s: http2.ClientHttp2Session): () => void {
    const entry = this.sessions.get(ep);
    if (!entry || entry.s !== s) return () => undefined;
    if (entry.streams++ === 0) s.ref();
    if (!entry.keepalive) entry.keepalive = this.keepalive(ep, entry);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--entry.streams === 0 && !s.destroyed) s.unref();
    };
  }

  /** Pings the session while it carries streams; a PING left unanswered drops the connection (its streams end). */
  private keepalive(ep: string, entry: Session): NodeJS.Timeout {
    const every = this.opts.keepaliveMs ?? 5000;
    let waiting = false;
    const t = setInterval(() => {
      const s = entry.s;
      if (s.destroyed || entry.streams === 0 || waiting) return;
      waiting = true;
      const timer = setTimeout(() => s.destroy(new Error(`${ep}: no answer to an HTTP/2 PING within ${every} ms`)), every);
      timer.unref();
      try {
        s.ping((err) => {
          waiting = false;
          clearTimeout(timer);
          if (err && !s.destroyed) s.destroy(err);
        });
      } catch {
        clearTimeout(timer);
        waiting = false;
      }
    }, every);
    t.unref();
    return t;
  }

  /** Every member once, the preferred one first, as [index, endpoint]. */
  private *members(): Generator<[number, string]> {
    const eps = this.opts.endpoints;
    const start = this.preferred;
    for (let i = 0; i < eps.length; i++) {
      const idx = (start + i) % eps.length;
      yield [idx, eps[idx]!];
    }
  }

  /** A member failed us: try the next one first from now on. */
  private demote(idx: number): void {
    if (this.preferred === idx) this.preferred = (idx + 1) % this.opts.endpoints.length;
  }

  async unary(path: string, body: Buffer, opts: CallOptions): Promise<Buffer> {
    const deadline = Date.now() + opts.timeoutMs;
    let last: unknown;
    for (let round = 0; ; round++) {
      for (const [idx, ep] of this.members()) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        try {
          const s = await this.session(ep, Math.min(left, this.opts.connectTimeoutMs));
          return await this.call(ep, s, path, body, deadline, opts.metadata);
        } catch (err) {
          last = err;
          if (!(err instanceof GrpcError)) throw err;
          const down = err.code === GrpcStatus.UNAVAILABLE || err.code === GrpcStatus.DEADLINE_EXCEEDED;
          if (down) this.demote(idx);
          if (!(err.unsent || (opts.idempotent && err.code === GrpcStatus.UNAVAILABLE))) throw err;
        }
      }
      // Every member answered with "leader changed": the cluster is electing a leader (one was lost, or stepped
      // down), which takes about one election timeout. An idempotent call (a read, a status, a revoke) is repeated
      // through it, as etcd's own client does, instead of failing the caller; a write is not (it may have been
      // proposed), and anything else (members unreachable, no quorum) fails now.
      const pause = ELECTION_RETRY_MS[round];
      if (!opts.idempotent || pause === undefined || !isLeaderChange(last) || Date.now() + pause >= deadline) break;
      await new Promise((r) => setTimeout(r, pause));
    }
    throw last ?? new GrpcError(GrpcStatus.DEADLINE_EXCEEDED, `${path}: deadline exceeded before any member answered`);
  }

  private call(
    ep: string,
    s: http2.ClientHttp2Session,
    path: string,
    body: Buffer,
    deadline: number,
    md?: Record<string, string>,
  ): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const ms = Math.max(1, deadline - Date.now());
      let req: http2.ClientHttp2Stream;
      try {
        req = s.request(
          { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': `${ms}m`, ...md },
          { endStream: false },
        );
      } catch (err) {
        reject(transportError(ep, err, true));
        return;
      }
      const release = this.use(ep, s);
      const parser = new FrameParser();
      let msg: Buffer | undefined;
      let status: GrpcError | 'ok' | undefined;
      let settled = false;
      const finish = (err: GrpcError | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        release();
        if (err) reject(err);
        else if (msg) resolve(msg);
        else reject(new GrpcError(GrpcStatus.INTERNAL, `${path}: OK status without a response message`));
      };
      const timer = setTimeout(() => {
        req.close(http2.constants.NGHTTP2_CANCEL);
        finish(new GrpcError(GrpcStatus.DEADLINE_EXCEEDED, `${ep}: deadline exceeded after ${ms} ms`));
      }, ms);
      req.on('response', (h) => {
        if (h[':status'] !== 200) status = new GrpcError(GrpcStatus.UNAVAILABLE, `${ep}: HTTP status ${h[':status']}`);
        else status = statusOf(h);
      });
      req.on('data', (chunk: Buffer) => {
        try {
          for (const m of parser.push(chunk)) msg = m;
        } catch (err) {
          req.close(http2.constants.NGHTTP2_CANCEL);
          finish(err as GrpcError);
        }
      });
      req.on('trailers', (t) => {
        status = statusOf(t) ?? status;
      });
      req.on('error', (err: NodeJS.ErrnoException) => finish(transportError(ep, err, err.code === 'ERR_HTTP2_STREAM_CANCEL')));
      req.on('close', () => {
        if (status === 'ok') finish(undefined);
        else if (status) finish(status);
        else {
          // Reset without a status: REFUSED_STREAM means etcd never handled it (e.g. shutting down).
          const refused = req.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
          finish(new GrpcError(GrpcStatus.UNAVAILABLE, `${ep}: stream closed without a status (HTTP/2 code ${req.rstCode})`, refused));
        }
      });
      req.end(frame(body));
    });
  }

  /**
   * Opens a bidirectional stream on the preferred member, moving on to the next when it cannot connect. A stream
   * keeps the process alive and its connection pinged while it runs, unless `background` (the lease keep-alive
   * stream: its own deadlines find a member that hangs, and it must not hold a process that has nothing else to do).
   */
  async stream(
    path: string,
    metadata: Record<string, string> | undefined,
    timeoutMs: number,
    opts: { background?: boolean } = {},
  ): Promise<GrpcStream> {
    let last: unknown;
    for (const [idx, ep] of this.members()) {
      try {
        const s = await this.session(ep, Math.min(timeoutMs, this.opts.connectTimeoutMs));
        const req = s.request(
          { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...metadata },
          { endStream: false },
        );
        return new GrpcStream(ep, req, opts.background ? () => undefined : this.use(ep, s), () => this.demote(idx));
      } catch (err) {
        if (err instanceof ChannelClosedError) throw err;
        // A session that was closing refuses new streams synchronously: nothing was sent, try the next member.
        const e = err instanceof GrpcError ? err : transportError(ep, err, true);
        last = e;
        this.demote(idx);
        if (!e.unsent) throw e;
      }
    }
    throw last;
  }

  close(): void {
    this.closed = true;
    for (const { s } of this.sessions.values()) s.close();
    this.sessions.clear();
  }
}

/**
 * One gRPC bidirectional stream: 'message' (Buffer) for each message, then exactly one 'end' with the
 * status (undefined for OK) — also when the connection breaks.
 */
export class GrpcStream extends EventEmitter {
  private ended = false;
  private status: GrpcError | 'ok' | undefined;

  constructor(
    readonly endpoint: string,
    private readonly req: http2.ClientHttp2Stream,
    private readonly release: () => void,
    private readonly onBroken: () => void,
  ) {
    super();
    const parser = new FrameParser();
    req.on('response', (h) => {
      this.status = h[':status'] !== 200 ? new GrpcError(GrpcStatus.UNAVAILABLE, `${endpoint}: HTTP status ${h[':status']}`) : statusOf(h);
    });
    req.on('data', (chunk: Buffer) => {
      let msgs: Buffer[];
      try {
        msgs = parser.push(chunk);
      } catch (err) {
        this.finish(err as GrpcError);
        req.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      for (const m of msgs) if (!this.ended) this.emit('message', m);
    });
    req.on('trailers', (t) => {
      this.status = statusOf(t) ?? this.status;
    });
    req.on('error', (err) => {
      onBroken();
      this.finish(transportError(endpoint, err, false));
    });
    const closed = (): void => {
      if (this.status === 'ok') this.finish(undefined);
      else if (this.status) this.finish(this.status);
      else {
        onBroken();
        this.finish(new GrpcError(GrpcStatus.UNAVAILABLE, `${endpoint}: stream closed without a status (HTTP/2 code ${req.rstCode})`));
      }
    };
    // The server's side ended (trailers sent): the call is over even though our side is still open, which
    // keeps the HTTP/2 stream from closing; close it.
    req.on('end', () => {
      closed();
      if (!req.closed) req.close(http2.constants.NGHTTP2_NO_ERROR);
    });
    req.on('close', closed);
  }

  private finish(err: GrpcError | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.release();
    this.emit('end', err);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Its connection takes no new streams: the member sent GOAWAY (it is shutting down), or the connection closed. */
  get isDraining(): boolean {
    const s = this.req.session;
    return !s || s.closed || s.destroyed;
  }

  write(msg: Buffer): void {
    if (!this.ended && this.req.writable) this.req.write(frame(msg));
  }

  /** Ends our side; the server's answers still arrive. */
  end(): void {
    if (!this.ended && this.req.writable) this.req.end();
  }

  /**
   * Gives up on the stream's member (it did not answer within a deadline of the caller's): the channel prefers the
   * next member from now on, and the stream is cancelled.
   */
  abandon(): void {
    this.onBroken();
    this.cancel();
  }

  /** Drops the stream at once (RST_STREAM CANCEL); 'end' follows with CANCELLED. */
  cancel(): void {
    this.status ??= new GrpcError(GrpcStatus.CANCELLED, 'cancelled by the client');
    if (!this.req.closed) this.req.close(http2.constants.NGHTTP2_CANCEL);
  }
}
