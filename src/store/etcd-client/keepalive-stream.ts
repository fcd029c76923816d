/**
 * Lease keep-alives over one LeaseKeepAlive stream kept open between them, as etcd's own clients do.
 *
 * A keep-alive on a stream of its own made etcd set up and tear down a gRPC stream (and the goroutines serving it)
 * every time. Every agent sends one every 2 s (its store probe is its lease's keep-alive): that is the etcd leader's
 * load at rest, per hypervisor. Kept open, etcd's CPU for 300 clients at that pace went from 6.7 to 4.8 % of a core
 * (`npm run bench:lease`, docs/scale.md).
 *
 * etcd serves a LeaseKeepAlive stream one request after another, so answers come in the order the requests went and
 * are matched first in, first out (and checked against the lease id asked for). Any failure — the stream ends, an
 * answer does not come within the deadline (the member is then left for the next one, as a unary call's deadline
 * does), an answer for another lease — fails every keep-alive waiting on the stream and drops it: the next
 * keep-alive opens a new one, on whichever member the channel prefers then. A stream whose connection is draining
 * (the member sent GOAWAY: it is shutting down) is not used for a new keep-alive.
 *
 * The stream does not keep the process alive while no keep-alive waits (its connection is left unreferenced), like
 * the keep-alive timers themselves.
 */
import { GrpcError, GrpcStatus, type GrpcStream } from './grpc.js';
import { ProtoReader } from './proto.js';
import * as m from './messages.js';

export const LEASE_KEEPALIVE_PATH = '/etcdserverpb.Lease/LeaseKeepAlive';

/** How the stream is opened: the channel's stream(), with the metadata (auth token) of the moment. */
export type OpenKeepAliveStream = () => Promise<{ stream: GrpcStream; metadata: Record<string, string> | undefined }>;

interface Waiting {
  id: string;
  resolve: (r: m.LeaseKeepAliveResponse) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface Current {
  stream: GrpcStream;
  metadata: Record<string, string> | undefined;
  waiting: Waiting[];
  /** Failed: nothing more goes on it (its stream is being cancelled). */
  dead: boolean;
}

export class KeepAliveStream {
  private current: Current | undefined;
  private opening: Promise<Current> | undefined;
  /** Bumped by reset(): a stream that was being opened before it is not used. */
  private generation = 0;
  /** Streams opened so far (tests: one stream serves many keep-alives). */
  opened = 0;

  /** The member (host:port) the current stream is on, if there is one. */
  get endpoint(): string | undefined {
    return this.current && !this.current.dead ? this.current.stream.endpoint : undefined;
  }

  constructor(
    private readonly open: OpenKeepAliveStream,
    private readonly timeoutMs: number,
  ) {}

  /**
   * One keep-alive of lease `id`: etcd's answer (TTL 0: the lease is gone), or the error, with the metadata (auth
   * token) the stream was opened with, for the caller's retry with a fresh token.
   */
  async keepAlive(
    id: string,
    timeoutMs = this.timeoutMs,
  ): Promise<{ response: m.LeaseKeepAliveResponse } | { error: Error; metadata: Record<string, string> | undefined }> {
    let cur: Current;
    try {
      cur = await this.stream();
    } catch (err) {
      return { error: err as Error, metadata: undefined };
    }
    // It may have ended while this waited for it (a stream being opened, shared).
    if (cur.dead)
      return { error: new GrpcError(GrpcStatus.UNAVAILABLE, `${cur.stream.endpoint}: keep-alive stream ended`), metadata: cur.metadata };
    return new Promise((resolve) => {
      const w: Waiting = {
        id,
        resolve: (response) => resolve({ response }),
        reject: (error) => resolve({ error, metadata: cur.metadata }),
        timer: setTimeout(() => {
          // A member that hangs (stopped, cut off without RST or FIN): the next keep-alive goes to another one.
          const why = `${cur.stream.endpoint}: no keep-alive answer within ${timeoutMs} ms`;
          this.fail(cur, new GrpcError(GrpcStatus.DEADLINE_EXCEEDED, why), true);
        }, timeoutMs),
      };
      cur.waiting.push(w);
      cur.stream.write(m.encode(m.encodeLeaseId, { ID: id }));
    });
  }

  /** Drops the stream (its token was refused, or the client closes): keep-alives waiting on it fail. */
  reset(err: Error = new GrpcError(GrpcStatus.CANCELLED, 'keep-alive stream reset')): void {
    this.generation++;
    this.opening = undefined;
    if (this.current) this.fail(this.current, err);
  }

  private stream(): Promise<Current> {
    const cur = this.current;
    if (cur && !cur.dead && !cur.stream.isEnded && !cur.stream.isDraining) return Promise.resolve(cur);
    if (cur && !cur.dead) this.fail(cur, new GrpcError(GrpcStatus.UNAVAILABLE, `${cur.stream.endpoint}: connection draining`));
    if (this.opening) return this.opening;
    const gen = this.generation;
    const p = this.open().then(({ stream, metadata }) => {
      const c = this.attach(stream, metadata);
      if (gen !== this.generation) {
        this.fail(c, new GrpcError(GrpcStatus.CANCELLED, 'keep-alive stream reset'));
        throw new GrpcError(GrpcStatus.CANCELLED, 'keep-alive stream reset while it opened');
      }
      this.current = c;
      return c;
    });
    this.opening = p;
    const done = (): void => {
      if (this.opening === p) this.opening = undefined;
    };
    p.then(done, done);
    return p;
  }

  private attach(stream: GrpcStream, metadata: Record<string, string> | undefined): Current {
    this.opened++;
    const cur: Current = { stream, metadata, waiting: [], dead: false };
    stream.on('message', (b: Buffer) => {
      const w = cur.waiting[0];
      if (!w) return this.fail(cur, new GrpcError(GrpcStatus.INTERNAL, `${stream.endpoint}: a keep-alive answer nobody asked for`));
      let r: m.LeaseKeepAliveResponse;
      try {
        r = m.decodeLeaseKeepAliveResponse(new ProtoReader(b));
      } catch (err) {
        return this.fail(cur, err as Error);
      }
      if (r.ID !== w.id) {
        const why = `${stream.endpoint}: a keep-alive answer for lease ${r.ID} where ${w.id} was asked`;
        return this.fail(cur, new GrpcError(GrpcStatus.INTERNAL, why));
      }
      cur.waiting.shift();
      clearTimeout(w.timer);
      w.resolve(r);
    });
    stream.once('end', (err: GrpcError | undefined) => {
      this.fail(cur, err ?? new GrpcError(GrpcStatus.UNAVAILABLE, `${stream.endpoint}: keep-alive stream ended`));
    });
    return cur;
  }

  /** Fails every keep-alive waiting on `cur` and drops its stream (and its member, when `abandon`). */
  private fail(cur: Current, err: Error, abandon = false): void {
    cur.dead = true;
    if (this.current === cur) this.current = undefined;
    for (const w of cur.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    if (abandon) cur.stream.abandon();
    else if (!cur.stream.isEnded) cur.stream.cancel();
  }
}
