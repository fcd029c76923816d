/**
 * Closing the API server (a planned stop): the requests in flight are answered, on a keep-alive connection with
 * `Connection: close`; no new connection is taken; past the drain deadline, or on a second close with drainMs 0, what
 * is left is cut and the cut is logged. (The same through `wyvern api` and a burst on etcd: api-burst-faults.)
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import pino from 'pino';

let server: ApiServer | undefined;
let store: Store | undefined;
afterEach(async () => {
  await server?.close({ drainMs: 0 });
  await store?.close().catch(() => undefined);
  server = store = undefined;
});

/** A server with GET /slow, answered when `release()` is called. */
async function slowServer(opts: { drainMs?: number; lines?: string[] } = {}) {
  store = await openStore('memory:');
  const lines = opts.lines;
  const logger = lines ? pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) }) : undefined;
  server = await startApiServer({
    store,
    listen: '127.0.0.1:0',
    ...(opts.drainMs !== undefined ? { drainMs: opts.drainMs } : {}),
    ...(logger ? { logger } : {}),
  });
  let releases: (() => void)[] = [];
  let started = 0;
  server.route('GET', '/slow', async () => {
    started++;
    await new Promise<void>((r) => releases.push(r));
    return { body: { done: true } };
  });
  return {
    url: new URL(server.url),
    started: () => started,
    release: () => {
      for (const r of releases) r();
      releases = [];
    },
  };
}

type Result = { status?: number; connection?: string; body?: string; error?: string };

function get(url: URL, path: string, agent: Agent | false = false): Promise<Result> {
  return new Promise((resolve) => {
    const req = request({ host: url.hostname, port: url.port, path, agent }, (res: IncomingMessage) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
};

describe('closing the API server', () => {
  it('answers the requests in flight (keep-alive ones with Connection: close) and takes no new connection', async () => {
    const s = await slowServer();
    const agent = new Agent({ keepAlive: true });
    const inFlight = [get(s.url, '/slow', agent), get(s.url, '/slow')];
    await until(() => s.started() === 2);
    let closed = false;
    const closing = server!.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(closed, 'close waits for the requests in flight').toBe(false);
    expect((await get(s.url, '/healthz')).error, 'a new connection is refused').toBe('ECONNREFUSED');
    s.release();
    const answers = await Promise.all(inFlight);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(answers[0]!.connection, 'the keep-alive connection is not kept').toBe('close');
    await closing;
    expect(closed).toBe(true);
    agent.destroy();
    server = undefined;
  });

  it('closes at once when nothing is in flight, keep-alive connections included', async () => {
    const s = await slowServer();
    const agent = new Agent({ keepAlive: true });
    expect((await get(s.url, '/healthz', agent)).status).toBe(200);
    const t0 = Date.now();
    await server!.close();
    expect(Date.now() - t0).toBeLessThan(1_000);
    agent.destroy();
    server = undefined;
  });

  it('cuts what is left at the drain deadline, and says so', async () => {
    const lines: string[] = [];
    const s = await slowServer({ drainMs: 200, lines });
    const pending = get(s.url, '/slow');
    await until(() => s.started() === 1);
    const t0 = Date.now();
    await server!.close();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect((await pending).error).toBe('ECONNRESET');
    expect(lines.map((l) => JSON.parse(l) as { msg: string; requests: number })).toEqual([
      expect.objectContaining({ msg: 'API closing: requests still in flight at the deadline, cut', requests: 1 }),
    ]);
    s.release();
    server = undefined;
  });

  it('a second close with drainMs 0 (a second signal) cuts at once', async () => {
    const s = await slowServer();
    const pending = get(s.url, '/slow');
    await until(() => s.started() === 1);
    const first = server!.close();
    const t0 = Date.now();
    await server!.close({ drainMs: 0 });
    await first;
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect((await pending).error).toBe('ECONNRESET');
    s.release();
    server = undefined;
  });
});
