/** OfListener over plain TCP and a unix socket: sessions come up, answer requests, go down with the switch. */
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, type OfMessage } from '../../src/openflow/index.js';
import { OfListener, type OfSession } from '../../src/openflow/channel/index.js';
import { Framer } from '../../src/openflow/channel/framer.js';

function fakeSwitch(sock: Socket, dpid: bigint): OfMessage[] {
  const got: OfMessage[] = [];
  const framer = new Framer();
  sock.write(Buffer.from('0400001000000001' + '0001000800000010', 'hex'));
  sock.on('error', () => undefined);
  sock.on('data', (c: Buffer) =>
    framer.push(c, (f) => {
      const m = decodeMessage(f);
      got.push(m);
      if (m.type === 'FEATURES_REQUEST') {
        sock.write(
          encodeMessage({
            type: 'FEATURES_REPLY',
            xid: m.xid,
            datapathId: dpid,
            nBuffers: 0,
            nTables: 254,
            auxiliaryId: 0,
            capabilities: 0,
            reserved: 0,
          }),
        );
      } else if (m.type === 'BARRIER_REQUEST') {
        sock.write(encodeMessage({ type: 'BARRIER_REPLY', xid: m.xid }));
      }
    }),
  );
  return got;
}

describe('OfListener', () => {
  for (const kind of ['tcp', 'unix'] as const) {
    it(`accepts switches over ${kind}, one session each, and reports them going away`, async () => {
      const path = join(tmpdir(), `wyvern-ofl-${randomBytes(4).toString('hex')}.sock`);
      const l = new OfListener({ endpoint: kind === 'tcp' ? 'tcp:127.0.0.1:0' : `unix:${path}` });
      const addr = await l.listen();
      const dial = () => (addr.kind === 'unix' ? connect(addr.path) : connect(addr.port, '127.0.0.1'));
      try {
        const sessions: OfSession[] = [];
        l.on('switch', (s: OfSession) => sessions.push(s));
        const a = dial();
        const b = dial();
        fakeSwitch(a, 1n);
        const gotB = fakeSwitch(b, 2n);
        await expect.poll(() => sessions.length).toBe(2);
        expect(sessions.map((s) => s.features!.datapathId).sort()).toEqual([1n, 2n]);
        expect(new Set(sessions.map((s) => s.session)).size).toBe(2);
        const sb = sessions.find((s) => s.features!.datapathId === 2n)!;
        await sb.barrier();
        expect(gotB.some((m) => m.type === 'BARRIER_REQUEST')).toBe(true);
        const down = new Promise<string>((r) => sb.once('down', r));
        b.destroy();
        expect(await down).toMatch(/closed/);
        await expect.poll(() => l.sessions.length).toBe(1);
        a.destroy();
      } finally {
        await l.close();
      }
    });
  }
});
