/**
 * One etcd Watch stream carrying many watches, and keeping them: when the stream breaks (member killed,
 * restarted, connection lost) it reopens — on the next member if this one does not answer — and creates
 * every watch again from the revision each one still needs (WatchTarget.request()).
 *
 * Creates are pipelined: etcd handles the requests of one stream in order and answers creates in that
 * order, so the n-th `created` answers the n-th create (etcd 3.4 refuses a create with watch id -1, which
 * only the order can attribute). Events are routed by watch id.
 *
 * Auth: the token travels in the stream's headers, once. A token that died with a restarted member gets a
 * create refused (3.4 says "permission denied", later versions "invalid auth token") or the stream ended:
 * the stream is reopened with a new token, and a watch refused again with the fresh token is refused for good.
 */
import type { Logger } from '../../util/log.js';
import { isTokenError, type EtcdClient } from './client.js';
import { GrpcError, GrpcStatus, type GrpcStream } from './grpc.js';
import { ProtoReader } from './proto.js';
import { decodeWatchResponse, encode, encodeWatchRequest, type WatchCreateRequest, type WatchResponse } from './messages.js';

export interface WatchTarget {
  /** The create request to send now (its start revision: the next one the watch still needs). */
  request(): WatchCreateRequest;
  /** etcd created the watch (again, after a reopen). */
  created(res: WatchResponse): void;
  /** Events, or a progress notification (no events). */
  response(res: WatchResponse): void;
  /** etcd cancelled the watch (compaction: compact_revision set) or refused to create it (cancel_reason). */
  canceled(res: WatchResponse): void;
  /** The watch cannot be opened at all (credentials refused, client closed). */
  failed(err: Error): void;
}

interface Entry {
  target: WatchTarget;
  id: number | undefined;
  cancelled: boolean;
  /** Creates refused in a row for the token (one fresh token is tried). */
  denials: number;
  onGone?: () => void;
}

const AUTH_REFUSAL = /permission denied|invalid auth token|auth token is not provided/i;

export class WatchStream {
  private stream: GrpcStream | undefined;
  private metadata: Record<string, string> | undefined;
  private opening = false;
  private readonly entries = new Set<Entry>();
  private readonly byId = new Map<number, Entry>();
  private pending: Entry[] = [];
  private backoff = 100;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly client: EtcdClient,
    private readonly logger: Logger,
  ) {}

  /** Starts watching; returns a function that cancels (resolves once etcd confirmed, or after 2 s). */
  add(target: WatchTarget): () => Promise<void> {
    const e: Entry = { target, id: undefined, cancelled: false, denials: 0 };
    this.entries.add(e);
    if (this.stream) this.create(e);
    else this.connect(0);
    return () => this.remove(e);
  }

  private create(e: Entry): void {
    this.pending.push(e);
    this.stream!.write(encode(encodeWatchRequest, { create_request: e.target.request() }));
  }

  private connect(delay: number): void {
    if (this.opening || this.stream || this.closed || this.timer || this.entries.size === 0) return;
    if (delay > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.connect(0);
      }, delay);
      return;
    }
    this.opening = true;
    this.client.openWatch().then(
      ({ stream, metadata }) => {
        this.opening = false;
        if (this.closed) return stream.cancel();
        this.stream = stream;
        this.metadata = metadata;
        stream.on('message', (b: Buffer) => this.onMessage(stream, b));
        stream.on('end', (err: GrpcError | undefined) => this.onEnd(stream, err));
        for (const e of this.entries) this.create(e);
      },
      (err: unknown) => {
        this.opening = false;
        if (this.closed) return;
        const transient = err instanceof GrpcError && (err.code === GrpcStatus.UNAVAILABLE || err.code === GrpcStatus.DEADLINE_EXCEEDED);
        if (!transient) {
          // Credentials refused, client closed: retrying will not help; each owner hears it.
          for (const e of [...this.entries]) {
            this.entries.delete(e);
            e.target.failed(err as Error);
          }
          return;
        }
        this.logger.debug({ err: (err as Error).message, retryMs: this.backoff }, 'etcd watch stream: no member answered; retrying');
        this.retryLater();
      },
    );
  }

  private retryLater(delay = this.backoff): void {
    this.backoff = Math.min(this.backoff * 2, 1000);
    this.connect(delay);
  }

  private onMessage(stream: GrpcStream, b: Buffer): void {
    if (stream !== this.stream) return;
    let res: WatchResponse;
    try {
      res = decodeWatchResponse(new ProtoReader(b));
    } catch (err) {
      this.logger.warn({ err }, 'etcd watch stream: undecodable response; reopening the stream');
      stream.cancel();
      return;
    }
    if (res.created) {
      const e = this.pending.shift();
      if (!e) return;
      if (res.canceled) {
        if (this.client.auth && AUTH_REFUSAL.test(res.cancel_reason) && e.denials++ === 0 && !e.cancelled) {
          // Probably a token that died with a restarted member: reopen the stream with a new one.
          this.logger.info(
            { reason: res.cancel_reason },
            'etcd refused a watch for its token; reopening the watch stream with a new token',
          );
          this.client.dropToken(this.metadata);
          this.backoff = 0;
          stream.cancel();
          return;
        }
        this.entries.delete(e);
        if (e.cancelled) e.onGone?.();
        else e.target.canceled(res);
        return;
      }
      this.backoff = 100;
      e.denials = 0;
      e.id = res.watch_id;
      this.byId.set(res.watch_id, e);
      if (e.cancelled) stream.write(encode(encodeWatchRequest, { cancel_request: { watch_id: res.watch_id } }));
      else e.target.created(res);
      return;
    }
    const e = this.byId.get(res.watch_id);
    if (!e) return;
    if (res.canceled) {
      this.byId.delete(res.watch_id);
      this.entries.delete(e);
      if (e.cancelled) e.onGone?.();
      else e.target.canceled(res);
      return;
    }
    if (!e.cancelled) e.target.response(res);
  }

  private onEnd(stream: GrpcStream, err: GrpcError | undefined): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    this.byId.clear();
    for (const e of this.pending) if (e.cancelled) e.onGone?.();
    this.pending = [];
    for (const e of [...this.entries]) {
      e.id = undefined;
      if (e.cancelled) {
        this.entries.delete(e);
        e.onGone?.();
      }
    }
    if (this.closed) return;
    if (err && isTokenError(err)) {
      this.client.dropToken(this.metadata);
      this.backoff = 0;
    }
    this.logger.debug({ err: err?.message, watches: this.entries.size }, 'etcd watch stream ended; reopening');
    this.retryLater(this.backoff);
    if (this.backoff === 0) this.backoff = 100;
  }

  private async remove(e: Entry): Promise<void> {
    if (e.cancelled || !this.entries.has(e)) return;
    e.cancelled = true;
    const stream = this.stream;
    const inFlight = stream && (e.id !== undefined || this.pending.includes(e));
    if (!inFlight) {
      this.entries.delete(e);
      return;
    }
    const gone = new Promise<void>((resolve) => (e.onGone = resolve));
    if (e.id !== undefined) stream.write(encode(encodeWatchRequest, { cancel_request: { watch_id: e.id } }));
    // A cancel waits for etcd's confirmation; don't hang on it if the member is gone.
    await Promise.race([gone, new Promise((r) => setTimeout(r, 2000).unref())]);
    this.entries.delete(e);
  }

  /** Number of watches on this stream (for spreading). */
  get size(): number {
    return this.entries.size;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const e of this.entries) e.onGone?.();
    this.entries.clear();
    this.stream?.cancel();
  }
}
