/**
 * The northbound REST API server (node:http, no framework). Served by every agent and, for
 * management hosts, standalone by `wyvern api`. Loopback or a unix socket by default; any other
 * address requires a bearer token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { lstat, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Topology } from '../model/repo.js';
import type { Store } from '../store/types.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { TLSSocket } from 'node:tls';
import { explainTlsError, verifyErrorText } from '../util/tls-errors.js';
import { ApiError, errorBody, readJsonBody, Router, send, toApiError, type RouteHandler } from './http.js';
import { ApiStartError, isLoopback, parseListen } from './listen.js';
import { addTopologyRoutes, type ChassisExtras } from './routes.js';
import { addProbeRoutes, newRegistry, PUBLIC_PATHS, requestMetrics, storeAnswers } from './health.js';
import type { Registry } from 'prom-client';
import { VERSION } from '../version.js';
import { noteApiWrite } from '../util/tier-up.js';

export interface ApiServerOptions {
  store: Store;
  /** 'HOST:PORT' | 'tcp:HOST:PORT' (port 0 = ephemeral) | 'unix:/path' (see parseListen). */
  listen: string;
  /** Required as `Authorization: Bearer <token>` on every request when set; mandatory off-loopback. */
  token?: string;
  logger?: Logger;
  /** Request body limit in bytes (default 8 MiB: topology imports can be large). */
  maxBodyBytes?: number;
  /** Reported by GET /v1. */
  version?: string;
  /** Serve HTTPS (tcp: only). */
  tls?: ApiTlsOptions;
  /** Fields an agent adds to each chassis listed or shown (whether it can tunnel there). */
  chassisExtras?: ChassisExtras;
  /** Served at /metrics (an agent's, with its own metrics); default: process metrics only. */
  registry?: Registry;
  /** GET /readyz answers 200 while this holds, else 503; default: the store answers. */
  ready?: () => boolean | Promise<boolean>;
  /** How long close() lets requests in flight finish (default API_DRAIN_MS). */
  drainMs?: number;
}

/** PEM contents (not paths). */
export interface ApiTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  /** Mutual TLS: every client must present a certificate this CA signed (it then counts as authenticated). */
  clientCa?: string | Buffer;
}

export interface ApiServer {
  /** http(s)://127.0.0.1:P (or http(s)://[::1]:P) or unix:/path. */
  url: string;
  /** Adds a route (e.g. the agent's /v1/agent/... debug routes); `{param}` segments match one path segment. */
  route(method: string, pathPattern: string, handler: RouteHandler): void;
  /** Every route (method + pattern), for documentation checks. */
  routes(): { method: string; pattern: string }[];
  /**
   * Stops taking connections and lets the requests in flight finish, up to `drainMs` (default: the server's
   * drainMs option, else API_DRAIN_MS), before it cuts what is left; then closes. Called again (a second signal),
   * with drainMs 0 it cuts at once.
   */
  close(opts?: { drainMs?: number }): Promise<void>;
}

export { ApiStartError };

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  // Hash both sides so the comparison is constant-time whatever the lengths.
  const a = createHash('sha256').update(m[1]!.trim()).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** Refuses a request whose TLS client certificate is missing or did not verify against the client CA. */
function checkClientCert(sock: TLSSocket): void {
  if (sock.authorized) return;
  const cert = sock.getPeerCertificate();
  const why =
    !cert || Object.keys(cert).length === 0
      ? 'no client certificate presented'
      : `client certificate refused: ${verifyErrorText(String(sock.authorizationError))}`;
  throw new ApiError(401, 'UNAUTHORIZED', why);
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
/** What the tier-up policy counts as a write (noteApiWrite): a body's methods and DELETE. */
const WRITE_METHODS = new Set([...BODY_METHODS, 'DELETE']);

/** A path of plain segments (no query, fragment, escapes or dot segments): URL parsing would give it back as is. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_-]+)+\/?$/;

/**
 * Connections the kernel queues for the API before it accepts them (the kernel caps it at net.core.somaxconn, 4096 by
 * default). Node's default, 511, overflowed under a burst of concurrent clients (1,000 `POST /v1/ports` at once, one
 * connection each, as the CLI or a provisioning script makes them): Linux drops the SYNs it has no room for, and each
 * such client waited for its SYN's retransmission, 1 s later (bench:writes, fourteenth session: a ~0.7 s stall in
 * the rush, and the counter TcpExtListenOverflows).
 */
export const API_LISTEN_BACKLOG = 4096;

/**
 * How long the API keeps an idle keep-alive connection open (Node's default: 5 s). A client that sends a request on a
 * connection the server is closing at that moment gets a reset, not an answer, and for a write cannot tell whether it
 * was made. Node's own clients read the `Keep-Alive: timeout=` hint and retire a connection before the server does;
 * proxies and other clients keep idle connections longer and do not (nginx's upstream keepalive_timeout 60 s, HAProxy's
 * and load balancers' 60 s, Go's client 90 s), and behind nginx such a reset is a 502 for a POST. 65 s outlasts the
 * proxies' 60 s, so that they close first. The headers' deadline must outlast it (Node's advice; its default is 60 s).
 */
export const API_KEEP_ALIVE_MS = 65_000;

/**
 * How long a closing server lets the requests in flight finish. A planned stop (systemd's SIGTERM: a restart, an
 * upgrade) used to cut them: a client then could not tell whether its write had been made, and a port created with
 * its answer lost made the retry fail on the name. Drained, every request the server began is answered, and one
 * refused or reset before it began was not made. A request waits on store calls with deadlines of their own; past
 * this one what is left is cut (and logged).
 */
export const API_DRAIN_MS = 10_000;

/**
 * The request's path and query. A plain path (POST /v1/ports, most requests) skips the WHATWG URL parser, a
 * visible share of a small request's CPU; anything else is parsed (and normalised) by it.
 */
function requestUrl(raw: string): { pathname: string; searchParams: URLSearchParams } {
  if (PLAIN_PATH.test(raw)) return { pathname: raw, searchParams: new URLSearchParams() };
  return new URL(raw, 'http://wyvern');
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const addr = parseListen(opts.listen);
  const log = (opts.logger ?? silentLogger).child({ component: 'api' });
  if (addr.kind === 'tcp' && !isLoopback(addr.host) && !opts.token && !opts.tls?.clientCa) {
    throw new ApiStartError(
      `refusing to listen on ${opts.listen} without a token or client CA: only loopback and unix sockets may be unauthenticated`,
    );
  }
  if (opts.tls && addr.kind !== 'tcp') throw new ApiStartError(`HTTPS needs a tcp:HOST:PORT listen address, not ${opts.listen}`);
  const limit = opts.maxBodyBytes ?? 8 * 1024 * 1024;
  const router = new Router();
  const topology = new Topology(opts.store, { logger: log });
  addTopologyRoutes(router, topology, opts.version ?? VERSION, opts.chassisExtras);
  const registry = opts.registry ?? newRegistry('api');
  addProbeRoutes(router, registry, opts.ready ?? storeAnswers(opts.store));
  const requests = requestMetrics(registry);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const method = (req.method ?? 'GET').toUpperCase();
    if (WRITE_METHODS.has(method)) noteApiWrite();
    const url = requestUrl(req.url ?? '/');
    let status = 500;
    let route = 'unmatched';
    try {
      // Health probes (load balancers, systemd, kubelet) carry no credentials, and their answers say nothing.
      if (!PUBLIC_PATHS.has(url.pathname)) {
        if (opts.tls?.clientCa) checkClientCert(req.socket as TLSSocket);
        if (opts.token !== undefined && !tokenMatches(req.headers.authorization, opts.token)) {
          throw new ApiError(401, 'UNAUTHORIZED', 'missing or wrong bearer token', undefined, { 'www-authenticate': 'Bearer' });
        }
      }
      const { handler, params, pattern } = router.resolve(method, url.pathname);
      route = pattern;
      const body = BODY_METHODS.has(method) ? await readJsonBody(req, limit) : undefined;
      const reply = await handler({ method, path: url.pathname, params, query: url.searchParams, body, headers: req.headers });
      status = reply.status ?? 200;
      if (draining) res.shouldKeepAlive = false;
      send(res, status, reply.body, reply.headers, reply.text);
    } catch (e) {
      const err = toApiError(e);
      status = err.status;
      if (status >= 500) log.error({ err: e, method, path: url.pathname }, 'request failed');
      if (draining) res.shouldKeepAlive = false;
      // A refused upload is not read to the end: close the connection instead of draining it.
      send(res, status, errorBody(err), { ...err.headers, ...(status === 413 ? { connection: 'close' } : {}) });
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      requests.observe(method, route, status, seconds);
      if (log.isLevelEnabled('debug')) log.debug({ method, path: url.pathname, status, ms: Math.round(seconds * 1e6) / 1e3 }, 'request');
    }
  }

  // Requests begun and not yet answered (or their connection gone): what close() waits for.
  let inFlight = 0;
  // Closing: answers say `Connection: close`, so that a keep-alive client sends its next request on a new connection,
  // which is refused (not made), instead of on one about to be closed under it.
  let draining = false;
  let drained: (() => void) | undefined;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    inFlight++;
    res.once('close', () => {
      if (--inFlight === 0) drained?.();
    });
    void handle(req, res);
  };
  const tls = opts.tls;
  // Mutual TLS: the handshake asks for a certificate but lets a bad one through, so that every request is then
  // refused with a reason the client can read (with TLS 1.3 a handshake alert reaches it as "socket hang up").
  const server = tls
    ? createHttpsServer(
        { cert: tls.cert, key: tls.key, ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false } : {}) },
        onRequest,
      )
    : createServer(onRequest);
  server.keepAliveTimeout = API_KEEP_ALIVE_MS;
  server.headersTimeout = API_KEEP_ALIVE_MS + 1_000;
  // A client that fails the handshake (unknown CA, expired certificate) concerns that client, not the server.
  server.on('tlsClientError', (err: Error) =>
    log.warn({ reason: explainTlsError(err) ?? err.message }, 'TLS handshake with API client failed'),
  );
  if (addr.kind === 'unix') {
    // A socket file left by a crashed server would make listen fail with EADDRINUSE.
    const st = await lstat(addr.path).catch(() => undefined);
    if (st?.isSocket()) await unlink(addr.path);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (addr.kind === 'unix') server.listen({ path: addr.path, backlog: API_LISTEN_BACKLOG }, () => resolve());
    else server.listen({ port: addr.port, host: addr.host, backlog: API_LISTEN_BACKLOG }, () => resolve());
  });
  let url: string;
  if (addr.kind === 'unix') url = `unix:${addr.path}`;
  else {
    const a = server.address() as AddressInfo;
    url = `${tls ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }
  log.info({ url, auth: opts.token !== undefined, clientCerts: tls?.clientCa !== undefined }, 'API listening');

  let closing: Promise<void> | undefined;
  /** close(): no new connection, idle ones closed (server.close), the requests in flight answered or cut at the deadline. */
  async function drainAndClose(drainMs: number): Promise<void> {
    draining = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    if (inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        drained = resolve;
        timer = setTimeout(resolve, drainMs);
      });
      clearTimeout(timer);
      if (inFlight > 0) log.warn({ requests: inFlight, drainMs }, 'API closing: requests still in flight at the deadline, cut');
    }
    server.closeAllConnections();
    await closed;
    topology.close();
    if (addr.kind === 'unix') await unlink(addr.path).catch(() => undefined);
  }

  return {
    url,
    route: (method, pattern, handler) => router.add(method, pattern, handler),
    routes: () => router.list(),
    close(o = {}) {
      if ((o.drainMs ?? 1) <= 0) drained?.();
      closing ??= drainAndClose(o.drainMs ?? opts.drainMs ?? API_DRAIN_MS);
      return closing;
    },
  };
}
