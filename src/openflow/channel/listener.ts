/**
 * OfListener: the passive side — switches connect to us (`ovs-vsctl set-controller br-int tcp:…|ssl:…`). Each
 * accepted connection becomes an OfSession; once its handshake completes the listener emits 'switch' (session).
 * The session has the same request API as OfChannel (send, request, multipart, dumpFlows, barrier, bundle) and
 * emits 'message' and 'down'. The switch reconnects by itself, so a listener never dials.
 */
import { EventEmitter } from 'node:events';
import { createServer as netServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import { silentLogger, type Logger } from '../../util/log.js';
import type { Clock } from './clock.js';
import { parseEndpoint, tlsOptions, type Endpoint, type TlsFiles } from './endpoint.js';
import { OfSession } from './session.js';
import { loadTls } from '../../util/lazy-tls.js';

export interface OfListenerOptions {
  /** 'tcp:HOST:PORT' | 'ssl:HOST:PORT' | 'unix:PATH' (or OVS's ptcp:PORT[:HOST] …); port 0 picks a free one. */
  endpoint: string;
  /** Required for ssl: the switch must present a certificate signed by `ca`. */
  tls?: TlsFiles;
  echoIntervalMs?: number;
  echoTimeoutMs?: number;
  requestTimeoutMs?: number;
  missSendLen?: number | null;
  logger?: Logger;
  clock?: Clock;
}

export class OfListener extends EventEmitter {
  private readonly opts: OfListenerOptions;
  private readonly ep: Endpoint;
  private readonly log: Logger;
  private server: Server | undefined;
  private readonly live = new Set<OfSession>();
  private sessionSeq = 0;

  constructor(opts: OfListenerOptions) {
    super();
    this.opts = opts;
    this.ep = parseEndpoint(opts.endpoint);
    if (this.ep.kind === 'ssl' && !opts.tls) throw new Error('OfListener: ssl endpoint needs tls { ca, cert, key }');
    this.log = (opts.logger ?? silentLogger).child({ ofListener: opts.endpoint });
  }

  /** Starts listening; resolves with the bound address (the real port when 0 was asked). */
  async listen(): Promise<Endpoint> {
    const ep = this.ep;
    const server =
      ep.kind === 'ssl'
        ? loadTls().createServer({ ...tlsOptions(this.opts.tls!), requestCert: true, rejectUnauthorized: true }, (s) => this.accept(s))
        : netServer((s) => this.accept(s));
    // TLS handshake failures (unknown CA, no client cert) concern one peer, not the listener.
    server.on('tlsClientError', (err: Error) => this.log.warn({ err: err.message }, 'TLS handshake with switch failed'));
    // After listen() succeeded, a server error (EMFILE …) is reported, never thrown at an unsuspecting caller.
    server.on('error', (err) => {
      this.log.error({ err }, 'OpenFlow listener error');
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    if (ep.kind === 'unix') await rm(ep.path, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = () => {
        server.off('error', reject);
        resolve();
      };
      if (ep.kind === 'unix') server.listen(ep.path, done);
      else server.listen(ep.port, ep.host, done);
    });
    this.server = server;
    return this.address()!;
  }

  address(): Endpoint | undefined {
    const a = this.server?.address();
    if (!a) return undefined;
    if (typeof a === 'string') return { kind: 'unix', path: a };
    return { kind: this.ep.kind === 'ssl' ? 'ssl' : 'tcp', host: (a as AddressInfo).address, port: (a as AddressInfo).port };
  }

  /** Switches currently connected with a completed handshake. */
  get sessions(): OfSession[] {
    return [...this.live].filter((s) => s.isUp);
  }

  /** Stops accepting and closes every session. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const sessions = [...this.live];
    for (const s of sessions) s.close('listener closed');
    await Promise.all(sessions.map((s) => s.closed()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.ep.kind === 'unix') await rm(this.ep.path, { force: true });
  }

  private accept(socket: Socket): void {
    if (!this.server) {
      socket.destroy();
      return;
    }
    if (this.ep.kind !== 'unix') socket.setNoDelay(true);
    const s = new OfSession(socket, {
      session: ++this.sessionSeq,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      echoIntervalMs: this.opts.echoIntervalMs,
      echoTimeoutMs: this.opts.echoTimeoutMs,
      missSendLen: this.opts.missSendLen,
      clock: this.opts.clock,
      logger: this.log,
    });
    this.live.add(s);
    s.once('down', () => this.live.delete(s));
    s.handshake().then(
      () => {
        if (!s.isClosed) this.emit('switch', s);
      },
      (err: Error) => this.log.warn({ err: err.message, remote: socket.remoteAddress }, 'switch handshake failed'),
    );
  }
}
