/**
 * The small HTTP layer under the API: a pattern router (`/v1/ports/{port}`), JSON bodies with a
 * size limit, and errors rendered as `{ "error": { code, field?, message } }`.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { ModelError, type Problem } from '../model/errors.js';
import { StoreError } from '../store/types.js';
import { httpDate } from '../util/time.js';

export interface ApiRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body (undefined when the request had none). */
  body: unknown;
  headers: IncomingHttpHeaders;
}

export interface ApiReply {
  status?: number;
  body?: unknown;
  /** Sent as is instead of a JSON body (its content-type goes in headers): /metrics, /healthz. */
  text?: string;
  headers?: Record<string, string>;
}

export type RouteHandler = (req: ApiRequest) => Promise<ApiReply> | ApiReply;

export type ErrorCode =
  | 'INVALID'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PRECONDITION_FAILED'
  | 'UNAUTHORIZED'
  | 'METHOD_NOT_ALLOWED'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNAVAILABLE'
  | 'INTERNAL';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    readonly headers?: Record<string, string>,
    /** Every problem of a request refused for several reasons (e.g. a topology import). */
    readonly problems?: readonly Problem[],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const MODEL_STATUS = { INVALID: 400, NOT_FOUND: 404, CONFLICT: 409, PRECONDITION_FAILED: 412 } as const;

/** Maps any thrown value to an ApiError; unknown errors become 500 without leaking internals. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof ModelError) return new ApiError(MODEL_STATUS[e.code], e.code, e.message, e.field, undefined, e.problems);
  if (e instanceof StoreError && (e.code === 'UNAVAILABLE' || e.code === 'CLOSED')) {
    return new ApiError(503, 'UNAVAILABLE', `store unavailable: ${e.message}`);
  }
  return new ApiError(500, 'INTERNAL', 'internal error (see the server log)');
}

export function errorBody(e: ApiError): { error: { code: ErrorCode; field?: string; message: string; problems?: readonly Problem[] } } {
  return {
    error: {
      code: e.code,
      ...(e.field !== undefined ? { field: e.field } : {}),
      message: e.message,
      ...(e.problems !== undefined ? { problems: e.problems } : {}),
    },
  };
}

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, raw?: string): void {
  const text = raw ?? (body === undefined ? '' : `${JSON.stringify(body, null, 2)}\n`);
  // Given a Date header, Node writes none of its own: its own comes from toUTCString, whose first call sets the local
  // time zone up through ICU (~0.6 MB of the agent's RSS); this one is written from the UTC fields (src/util/time.ts).
  res.writeHead(status, {
    date: httpDate(),
    ...(text && raw === undefined ? { 'content-type': 'application/json; charset=utf-8' } : {}),
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Reads a JSON body; 415 for other media types, 413 past `limit` bytes, 400 for malformed JSON. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `request body exceeds ${limit} bytes`);
  const body = await readBody(req, limit);
  if (body.length === 0) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `request body must be application/json (got ${type || 'no content-type'})`);
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new ApiError(400, 'INVALID', `request body is not valid JSON: ${(e as Error).message}`, 'body');
  }
}

/**
 * The request's body, up to `limit` bytes (413 past it). Events, not `for await`: an async iterator over the
 * request costs a few promises and listeners per request, a visible share of a small POST's CPU (issue 17).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', done);
      req.off('close', onClose);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        // Stop reading: the caller answers 413 and closes the connection instead of draining it.
        req.pause();
        done(new ApiError(413, 'PAYLOAD_TOO_LARGE', `request body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => done();
    // The client went away before the body ended.
    const onClose = (): void => done(new Error('request closed before its body ended'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', done);
    req.on('close', onClose);
  });
}

interface Route {
  method: string;
  pattern: string;
  parts: string[];
  handler: RouteHandler;
}

export class Router {
  private readonly routes: Route[] = [];
  /**
   * Resolutions of requests whose path is exactly a route without parameters, by method and path: the answer
   * depends on nothing else, and there is at most one per such route (other spellings of the path, '/v1/ports/' or
   * escapes, are resolved each time and never kept). Cleared when a route is added.
   */
  private readonly fixed = new Map<string, { handler: RouteHandler; params: Record<string, string>; pattern: string }>();

  add(method: string, pattern: string, handler: RouteHandler): void {
    const m = method.toUpperCase();
    if (this.routes.some((r) => r.method === m && r.pattern === pattern)) throw new Error(`route ${m} ${pattern} already defined`);
    this.routes.push({ method: m, pattern, parts: pattern.split('/').filter(Boolean), handler });
    this.fixed.clear();
  }

  list(): { method: string; pattern: string }[] {
    return this.routes.map((r) => ({ method: r.method, pattern: r.pattern }));
  }

  private static match(parts: string[], segs: string[]): Record<string, string> | undefined {
    if (parts.length !== segs.length) return undefined;
    const params: Record<string, string> = {};
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (p.startsWith('{') && p.endsWith('}')) params[p.slice(1, -1)] = segs[i]!;
      else if (p !== segs[i]) return undefined;
    }
    return params;
  }

  /** The handler for a request, or a 404/405 ApiError. */
  resolve(method: string, path: string): { handler: RouteHandler; params: Record<string, string>; pattern: string } {
    const known = this.fixed.get(`${method} ${path}`);
    if (known) return { ...known, params: {} };
    let segs: string[];
    try {
      segs = path.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw new ApiError(400, 'INVALID', `malformed percent-encoding in path ${path}`);
    }
    const allowed: string[] = [];
    for (const r of this.routes) {
      const params = Router.match(r.parts, segs);
      if (!params) continue;
      if (r.method === method) {
        if (path === r.pattern && !r.pattern.includes('{'))
          this.fixed.set(`${method} ${path}`, { handler: r.handler, params: {}, pattern: r.pattern });
        return { handler: r.handler, params, pattern: r.pattern };
      }
      allowed.push(r.method);
    }
    if (allowed.length > 0) {
      throw new ApiError(405, 'METHOD_NOT_ALLOWED', `method ${method} not allowed on ${path} (allowed: ${allowed.join(', ')})`, undefined, {
        allow: allowed.join(', '),
      });
    }
    throw new ApiError(404, 'NOT_FOUND', `no such resource: ${path}`);
  }
}
