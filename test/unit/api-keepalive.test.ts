/**
 * The API keeps an idle keep-alive connection for API_KEEP_ALIVE_MS (65 s), not Node's 5 s: a client that reuses a
 * connection after 6 s of quiet (a proxy, a Go or Python client, none of which read the `Keep-Alive` hint) is
 * answered on it instead of finding it closed under its request. Said in the hint too.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { API_KEEP_ALIVE_MS, startApiServer, type ApiServer } from '../../src/api/server.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';

let server: ApiServer | undefined;
let store: Store | undefined;
afterEach(async () => {
  await server?.close({ drainMs: 0 });
  await store?.close().catch(() => undefined);
});

/** Sends one request on `sock` and resolves with the raw answer once its body (Content-Length) is in. */
function ask(sock: Socket, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      const head = got.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(got);
      if (head >= 0 && len && got.length >= head + 4 + Number(len[1])) {
        done();
        resolve(got);
      }
    };
    const onEnd = (): void => {
      done();
      reject(new Error(`connection closed by the server before an answer (got ${JSON.stringify(got)})`));
    };
    const done = (): void => {
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('close', onEnd);
    };
    sock.on('data', onData);
    sock.once('end', onEnd);
    sock.once('close', onEnd);
    sock.write(`GET ${path} HTTP/1.1\r\nHost: wyvern\r\n\r\n`);
  });
}

describe('API keep-alive', () => {
  it('an idle connection is still answered after 6 s; the hint says 65 s', async () => {
    store = await openStore('memory:');
    server = await startApiServer({ store, listen: '127.0.0.1:0' });
    const { hostname, port } = new URL(server.url);
    const sock = connect(Number(port), hostname);
    sock.on('error', () => undefined);
    const first = await ask(sock, '/healthz');
    expect(first).toMatch(/^HTTP\/1\.1 200/);
    expect(first).toMatch(new RegExp(`keep-alive: timeout=${API_KEEP_ALIVE_MS / 1000}\\r\\n`, 'i'));
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await ask(sock, '/v1/networks')).toMatch(/^HTTP\/1\.1 200/);
    sock.destroy();
  }, 20_000);
});
