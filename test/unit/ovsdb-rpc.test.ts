import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { OvsdbClient } from '../../src/ovsdb/client.js';
import { JsonStreamScanner } from '../../src/ovsdb/framing.js';

// A scripted JSON-RPC peer on a unix socket: lets us test what a real ovsdb-server rarely does
// on demand (echo requests, byte-by-byte writes, silence).
interface Peer {
  endpoint: string;
  received: unknown[];
  sockets: net.Socket[];
  close(): Promise<void>;
}

const peers: Peer[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) await p.close();
});

async function fakeServer(onMsg: (m: Record<string, unknown>, s: net.Socket) => void): Promise<Peer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wyvern-ovsdb-rpc-'));
  const sockPath = path.join(dir, 's');
  const received: unknown[] = [];
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => {
    sockets.push(s);
    const sc = new JsonStreamScanner();
    s.on('data', (d) => {
      for (const m of sc.push(d)) {
        received.push(m);
        onMsg(m as Record<string, unknown>, s);
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(sockPath, r));
  const peer: Peer = {
    endpoint: `unix:${sockPath}`,
    received,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  peers.push(peer);
  return peer;
}

/** Answers echo and list_dbs like ovsdb-server. */
function polite(m: Record<string, unknown>, s: net.Socket): void {
  if (m.method === 'echo' && m.id !== null) s.write(JSON.stringify({ result: m.params, error: null, id: m.id }));
  if (m.method === 'list_dbs') s.write(JSON.stringify({ result: ['A', 'B{}"'], error: null, id: m.id }));
}

describe('ovsdb JSON-RPC session', () => {
  it('answers echo requests from the server', async () => {
    const peer = await fakeServer(polite);
    const c = await OvsdbClient.connect(peer.endpoint, { reconnect: false });
    peer.sockets[0]!.write(JSON.stringify({ method: 'echo', params: ['ping', 1], id: 'srv-echo' }));
    await new Promise((r) => setTimeout(r, 50));
    expect(peer.received).toContainEqual({ result: ['ping', 1], error: null, id: 'srv-echo' });
    await c.close();
  });

  it('handles replies written one byte at a time and several in one write', async () => {
    const peer = await fakeServer((m, s) => {
      if (m.method === 'echo') s.write(JSON.stringify({ result: m.params, error: null, id: m.id }));
      if (m.method === 'list_dbs') {
        const b = Buffer.from(
          JSON.stringify({ result: ['x}', 'ü"{'], error: null, id: m.id }) +
            JSON.stringify({ method: 'update2', params: ['m', {}], id: null }),
        );
        let i = 0;
        const next = () => {
          if (i < b.length) s.write(b.subarray(i, ++i), next);
        };
        next();
      }
    });
    const c = await OvsdbClient.connect(peer.endpoint, { reconnect: false });
    const upd = new Promise((r) => c.once('update2', (id) => r(id)));
    expect(await c.listDbs()).toEqual(['x}', 'ü"{']);
    expect(await upd).toBe('m');
    await c.close();
  });

  it('probes a silent server and reconnects when it stops answering', async () => {
    let mute = false;
    const peer = await fakeServer((m, s) => {
      if (!mute) polite(m, s);
    });
    const c = await OvsdbClient.connect(peer.endpoint, { reconnect: { minMs: 10, maxMs: 50 }, probeIntervalMs: 100 });
    mute = true;
    const dropped = new Promise((r) => c.once('disconnected', r));
    await dropped;
    mute = false;
    await new Promise((r) => c.once('reconnected', r));
    expect(await c.listDbs()).toEqual(['A', 'B{}"']);
    expect(
      peer.received.some(
        (m) =>
          (m as { method?: string; params?: unknown[] }).method === 'echo' && (m as { params: unknown[] }).params[0] === 'wyvern-probe',
      ),
    ).toBe(true);
    await c.close();
  });

  it('rejects in-flight requests when the connection drops, and new ones while down', async () => {
    const peer = await fakeServer((m, s) => {
      if (m.method === 'echo') polite(m, s);
      if (m.method === 'list_dbs') s.destroy();
    });
    const c = await OvsdbClient.connect(peer.endpoint, { reconnect: false });
    await expect(c.listDbs()).rejects.toMatchObject({ code: 'disconnected' });
    await expect(c.listDbs()).rejects.toMatchObject({ code: 'not-connected' });
    await c.close();
  });

  it('with initialRetryMs, waits for a server that starts late', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wyvern-ovsdb-late-'));
    const sockPath = path.join(dir, 's');
    const srv = net.createServer((s) => {
      const sc = new JsonStreamScanner();
      s.on('data', (d) => sc.push(d).forEach((m) => polite(m as Record<string, unknown>, s)));
    });
    setTimeout(() => srv.listen(sockPath), 300);
    try {
      const c = await OvsdbClient.connect(`unix:${sockPath}`, { reconnect: { minMs: 20, maxMs: 100 }, initialRetryMs: 5000 });
      expect(await c.listDbs()).toEqual(['A', 'B{}"']);
      await c.close();
      await expect(OvsdbClient.connect(`unix:${dir}/nothing`, { initialRetryMs: 100 })).rejects.toMatchObject({ code: 'not-connected' });
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maps a JSON-RPC error to OvsdbError(rpc) with error and details', async () => {
    const peer = await fakeServer((m, s) => {
      if (m.method === 'echo') polite(m, s);
      if (m.method === 'get_schema')
        s.write(JSON.stringify({ result: null, error: { error: 'unknown database', details: 'no db X' }, id: m.id }));
    });
    const c = await OvsdbClient.connect(peer.endpoint, { reconnect: false });
    await expect(c.getSchema('X')).rejects.toMatchObject({ code: 'rpc', extra: { error: 'unknown database', details: 'no db X' } });
    await c.close();
  });
});
