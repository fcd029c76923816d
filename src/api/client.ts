/**
 * A minimal client for the API over HTTP, HTTPS or a unix socket (used by the CLI and tests).
 * Errors from the server surface as ApiClientError carrying status, code, field and message; TLS failures as
 * ApiClientError 'TLS' saying what is wrong (expired certificate, hostname mismatch, unknown CA).
 */
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import { explainTlsError } from '../util/tls-errors.js';
import { defaultCa } from './extra-ca.js';
import { revisionOfEtag } from './etag.js';

export class ApiClientError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    /** Each problem of a request refused for several reasons: field and message. */
    readonly problems?: readonly { field?: string; message: string }[],
  ) {
    super(message);
    this.name = 'ApiClientError';
  }
}

export interface ApiResponse {
  status: number;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

/** PEM contents (not paths) for https:// URLs. */
export interface ApiClientTls {
  /** CA that signs the server's certificate (default: Node's public CAs, and those of WYVERN_EXTRA_CA_CERTS: extra-ca.ts). */
  ca?: string | Buffer;
  /** Our certificate and key, for a server that asks for one (mutual TLS). */
  cert?: string | Buffer;
  key?: string | Buffer;
}

export class ApiClient {
  private readonly socketPath?: string;
  private readonly base?: URL;
  /**
   * Sent as If-Match with every write (not GET) this client makes, when set: the ETag of the object as read, so the
   * write is made only while the object is still at that revision (412 otherwise). `wyvern … --if-match REV`.
   */
  ifMatch?: string;

  /** `api`: http://HOST:PORT, https://HOST:PORT or unix:/path/to.sock. */
  constructor(
    readonly api: string,
    private readonly token?: string,
    private readonly tls: ApiClientTls = {},
  ) {
    if (api.startsWith('unix:')) this.socketPath = api.slice(5);
    else {
      let u: URL;
      try {
        u = new URL(api);
      } catch {
        throw new ApiClientError(0, 'BAD_URL', `invalid API URL ${JSON.stringify(api)}: expected http(s)://HOST:PORT or unix:/path`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:')
        throw new ApiClientError(0, 'BAD_URL', `invalid API URL ${api}: only http://, https:// and unix: are supported`);
      this.base = u;
    }
  }

  private get secure(): boolean {
    return this.base?.protocol === 'https:';
  }

  /** An https:// API's TLS context, made at the first request and kept for the client's others. */
  private secureContext?: SecureContext;

  /**
   * Made once, not per request (each request is a connection of its own): with WYVERN_EXTRA_CA_CERTS the CAs are
   * Node's ~140 public ones and the file's, 26 ms to parse on this machine.
   */
  private tlsContext(): SecureContext {
    if (this.secureContext) return this.secureContext;
    const t = this.tls;
    const ca = t.ca ?? defaultCa();
    this.secureContext = createSecureContext({
      ...(ca ? { ca } : {}),
      ...(t.cert ? { cert: t.cert } : {}),
      ...(t.key ? { key: t.key } : {}),
    });
    return this.secureContext;
  }

  /** Raw request: resolves for every HTTP status (rejects only on transport failure). */
  raw(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const h: Record<string, string> = {
      accept: 'application/json',
      ...(this.ifMatch !== undefined && method !== 'GET' ? { 'if-match': this.ifMatch } : {}),
      ...headers,
    };
    if (text !== undefined) {
      h['content-type'] ??= 'application/json';
      h['content-length'] = String(Buffer.byteLength(text));
    }
    if (this.token !== undefined) h.authorization = `Bearer ${this.token}`;
    const target =
      this.socketPath !== undefined
        ? { socketPath: this.socketPath, path }
        : {
            host: this.base!.hostname.replace(/^\[|\]$/g, ''),
            port: Number(this.base!.port || (this.secure ? 443 : 80)),
            path: `${this.base!.pathname.replace(/\/$/, '')}${path}`,
          };
    const send = this.secure ? httpsRequest : request;
    return new Promise((resolve, reject) => {
      const tlsOpts = this.secure ? { secureContext: this.tlsContext() } : {};
      const req = send({ ...target, ...tlsOpts, method, headers: h, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const s = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = s;
          try {
            parsed = s === '' ? undefined : JSON.parse(s);
          } catch {
            /* not JSON: keep text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
        });
      });
      req.on('error', (e) => {
        const why = explainTlsError(e);
        if (why) reject(new ApiClientError(0, 'TLS', `TLS with the wyvern API at ${this.api} failed: ${why}`));
        else reject(new ApiClientError(0, 'UNREACHABLE', `cannot reach the wyvern API at ${this.api}: ${e.message}`));
      });
      req.end(text);
    });
  }

  /** JSON request that throws ApiClientError on any non-2xx status. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.callTagged<T>(method, path, body)).body;
  }

  /** call(), with the revision the answer's ETag names (undefined when it has none: a list, a deletion). */
  async callTagged<T = unknown>(method: string, path: string, body?: unknown): Promise<{ body: T; revision?: number }> {
    const r = await this.raw(method, path, body);
    if (r.status >= 200 && r.status < 300) {
      const revision = typeof r.headers.etag === 'string' ? revisionOfEtag(r.headers.etag) : undefined;
      return revision === undefined ? { body: r.body as T } : { body: r.body as T, revision };
    }
    const e = (
      r.body as
        { error?: { code?: string; message?: string; field?: string; problems?: { field?: string; message: string }[] } } | undefined
    )?.error;
    throw new ApiClientError(
      r.status,
      e?.code ?? 'HTTP',
      e?.message ?? `HTTP ${r.status}`,
      e?.field,
      Array.isArray(e?.problems) ? e.problems : undefined,
    );
  }
}
