/**
 * The etcd v3 client: KV, Lease, Maintenance.Status and Auth.Authenticate as typed calls over one GrpcChannel,
 * with the auth token attached as etcd's `token` metadata. A token dies with the member that issued it
 * (etcd's simple tokens do not survive a restart): a call etcd refuses for its token takes a new one and is
 * sent once more; watch streams (watch-stream.ts) take a new one when they reopen.
 */
import { ChannelClosedError, GrpcChannel, type ChannelOptions, type GrpcStream } from './grpc.js';
import { ProtoReader } from './proto.js';
import { KeepAliveStream, LEASE_KEEPALIVE_PATH } from './keepalive-stream.js';
import * as m from './messages.js';

export interface EtcdClientOptions extends ChannelOptions {
  username?: string;
  password?: string;
  /** Deadline of each unary call (ms). */
  callTimeoutMs: number;
}

/** etcd refused the token itself (not the user's permissions): take a new one. */
export function isTokenError(err: unknown): boolean {
  return /invalid auth token|auth token is not provided|auth: revision in header is old/i.test((err as Error)?.message ?? '');
}

const svc = (s: string, method: string): string => `/etcdserverpb.${s}/${method}`;

export class EtcdClient {
  readonly channel: GrpcChannel;
  private token: Promise<string> | undefined;
  private tokenValue: string | undefined;

  /** The lease keep-alives' stream, kept open between them. */
  readonly keepAlives: KeepAliveStream;

  constructor(readonly opts: EtcdClientOptions) {
    this.channel = new GrpcChannel(opts);
    this.keepAlives = new KeepAliveStream(async () => {
      const metadata = await this.metadata();
      const stream = await this.channel.stream(LEASE_KEEPALIVE_PATH, metadata, opts.callTimeoutMs, { background: true });
      return { stream, metadata };
    }, opts.callTimeoutMs);
  }

  get auth(): boolean {
    return this.opts.username !== undefined;
  }

  /** Metadata for a call: the current token, authenticating first when there is none. */
  async metadata(): Promise<Record<string, string> | undefined> {
    if (!this.auth) return undefined;
    this.token ??= this.authenticate();
    const p = this.token;
    try {
      return { token: await p };
    } catch (err) {
      if (this.token === p) this.token = undefined;
      throw err;
    }
  }

  /** Forgets `used` (the token a refused call carried) so the next call authenticates again. */
  dropToken(used: Record<string, string> | undefined): void {
    // Another call may have renewed it already: keep a newer token.
    if (used && this.tokenValue === used.token) {
      this.token = undefined;
      this.tokenValue = undefined;
    }
  }

  private async authenticate(): Promise<string> {
    const body = m.encode(m.encodeAuthenticate, { name: this.opts.username!, password: this.opts.password ?? '' });
    const res = await this.channel.unary(svc('Auth', 'Authenticate'), body, { timeoutMs: this.opts.callTimeoutMs, idempotent: true });
    const token = m.decode(m.decodeAuthenticateResponse, res).token;
    this.tokenValue = token;
    return token;
  }

  async unary<T>(path: string, body: Buffer, decode: (r: ProtoReader) => T, idempotent = false): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const md = await this.metadata();
      try {
        const res = await this.channel.unary(path, body, {
          timeoutMs: this.opts.callTimeoutMs,
          ...(md ? { metadata: md } : {}),
          idempotent,
        });
        return decode(new ProtoReader(res));
      } catch (err) {
        if (attempt === 0 && md && isTokenError(err)) {
          this.dropToken(md);
          continue;
        }
        throw err;
      }
    }
  }

  readonly kv = {
    range: (req: m.RangeRequest): Promise<m.RangeResponse> =>
      this.unary(svc('KV', 'Range'), m.encode(m.encodeRange, req), m.decodeRangeResponse, true),
    put: (req: m.PutRequest): Promise<m.PutResponse> => this.unary(svc('KV', 'Put'), m.encode(m.encodePut, req), m.decodePutResponse),
    deleteRange: (req: m.DeleteRangeRequest): Promise<m.DeleteRangeResponse> =>
      this.unary(svc('KV', 'DeleteRange'), m.encode(m.encodeDeleteRange, req), m.decodeDeleteRangeResponse),
    txn: (req: m.TxnRequest, readOnly = false): Promise<m.TxnResponse> =>
      this.unary(svc('KV', 'Txn'), m.encode(m.encodeTxn, req), m.decodeTxnResponse, readOnly),
    compact: (req: m.CompactionRequest): Promise<{ header: m.ResponseHeader }> =>
      this.unary(svc('KV', 'Compact'), m.encode(m.encodeCompaction, req), m.decodeCompactionResponse, true),
  };

  readonly lease = {
    grant: (ttl: number): Promise<m.LeaseGrantResponse> =>
      this.unary(svc('Lease', 'LeaseGrant'), m.encode(m.encodeLeaseGrant, { TTL: ttl }), m.decodeLeaseGrantResponse),
    revoke: (id: string): Promise<{ header: m.ResponseHeader }> =>
      this.unary(svc('Lease', 'LeaseRevoke'), m.encode(m.encodeLeaseId, { ID: id }), m.decodeLeaseRevokeResponse, true),
    /** One keep-alive, on the client's LeaseKeepAlive stream (keepalive-stream.ts); its deadline, default the call timeout. */
    keepAliveOnce: (id: string, timeoutMs?: number): Promise<m.LeaseKeepAliveResponse> => this.keepAliveOnce(id, timeoutMs),
  };

  readonly maintenance = {
    status: (): Promise<m.StatusResponse> => this.unary(svc('Maintenance', 'Status'), Buffer.alloc(0), m.decodeStatusResponse, true),
  };

  private async keepAliveOnce(id: string, timeoutMs?: number): Promise<m.LeaseKeepAliveResponse> {
    for (let attempt = 0; ; attempt++) {
      const r = await this.keepAlives.keepAlive(id, timeoutMs);
      if ('response' in r) return r.response;
      if (attempt === 0 && r.metadata && isTokenError(r.error)) {
        // The stream was opened with a token etcd no longer takes: a new stream, with a new token.
        this.dropToken(r.metadata);
        this.keepAlives.reset();
        continue;
      }
      throw r.error;
    }
  }

  /** Opens a Watch stream with the current token (watch-stream.ts drives it). */
  async openWatch(): Promise<{ stream: GrpcStream; metadata: Record<string, string> | undefined }> {
    const md = await this.metadata();
    return { stream: await this.channel.stream(svc('Watch', 'Watch'), md, this.opts.callTimeoutMs), metadata: md };
  }

  close(): void {
    this.keepAlives.reset(new ChannelClosedError('keep-alive'));
    this.channel.close();
  }
}
