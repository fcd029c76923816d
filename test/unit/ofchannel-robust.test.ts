/**
 * Whatever a peer sends, a session only ever (a) delivers messages, (b) reports a decode error and stays up,
 * or (c) closes with a reason — it never throws into the event loop, hangs a request, or grows without bound.
 */
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeMessage, flowMod } from '../../src/openflow/index.js';
import { OfSession } from '../../src/openflow/channel/index.js';

function pair(): { ours: Duplex; peerWrite(b: Buffer): void } {
  const ours: Duplex = new Duplex({
    read() {},
    write(_c, _e, cb) {
      cb();
    },
  });
  return { ours, peerWrite: (b) => ours.push(b) };
}

const tick = () => new Promise((r) => setImmediate(r));
const HELLO = Buffer.from('0400001000000001' + '0001000800000010', 'hex');

async function upSession(): Promise<{ s: OfSession; peerWrite(b: Buffer): void }> {
  const { ours, peerWrite } = pair();
  const s = new OfSession(ours, { echoIntervalMs: 0, requestTimeoutMs: 1_000 });
  // Our side sends HELLO then FEATURES_REQUEST with xids 1 and 2 (fresh allocator).
  const hs = s.handshake();
  peerWrite(HELLO);
  await tick();
  peerWrite(
    encodeMessage({
      type: 'FEATURES_REPLY',
      xid: 2,
      datapathId: 1n,
      nBuffers: 0,
      nTables: 1,
      auxiliaryId: 0,
      capabilities: 0,
      reserved: 0,
    }),
  );
  await hs;
  return { s, peerWrite };
}

describe('OfSession robustness', () => {
  it('survives random and mutated byte streams', async () => {
    const valid = [
      encodeMessage(flowMod({ priority: 5, match: [{ field: 'in_port', value: 3 }], instructions: [{ type: 'goto_table', tableId: 2 }] })),
      encodeMessage({
        type: 'PACKET_IN',
        xid: 0,
        bufferId: 0xffffffff,
        totalLen: 4,
        reason: 0,
        tableId: 0,
        cookie: 0n,
        match: [],
        data: Buffer.from('abcd'),
      }),
      encodeMessage({ type: 'BARRIER_REPLY', xid: 77 }),
      Buffer.from('04020008000000aa', 'hex'),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)),
            fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.nat(255)).map(([v, at, b]) => {
              const m = Buffer.from(v);
              m[at % m.length] = b;
              return m;
            }),
            fc.constantFrom(...valid),
          ),
          { maxLength: 12 },
        ),
        async (chunks) => {
          const { s, peerWrite } = await upSession();
          const events: string[] = [];
          s.on('message', () => events.push('message'));
          s.on('decodeError', () => events.push('decodeError'));
          s.on('down', () => events.push('down'));
          for (const c of chunks) peerWrite(c);
          await tick();
          if (s.isUp) {
            // Still a working session: a request round-trips (the peer answers by hand).
            const p = s.barrier({ timeoutMs: 500 }).catch((e: Error) => e);
            s.close('done');
            expect(await p).toBeInstanceOf(Error);
          }
          expect(s.pendingCount).toBe(0);
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });
});
