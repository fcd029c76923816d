/** The memo of built DHCP replies: a hit must be byte for byte what the server would build now, or not happen. */
import { describe, expect, it } from 'vitest';
import { handleDhcp, type DhcpContext, type DhcpDecision } from '../../src/apps/dhcp/index.js';
import { DhcpReplyMemo } from '../../src/apps/dhcp/reply-memo.js';
import { DHCP_TYPE, finishUdpChecksum, internetChecksum, parseFrame, udpChecksumValid, type ParsedFrame } from '../../src/packet/index.js';
import { baseCtx, clientFrame, type ClientReq } from '../fixtures/dhcp/helpers.js';

const T = DHCP_TYPE;
const GW = '10.77.0.1';
const ME = '10.77.0.54';

/** A client's retransmission: new xid and secs, another IPv4 identification, checksums redone. */
function request(r: ClientReq, opts: { secs?: number; ipId?: number } = {}): ParsedFrame {
  const b = clientFrame(r);
  const f = parseFrame(b);
  const ip = f.ipv4!.offset;
  b.writeUInt16BE(opts.secs ?? 0, f.udp!.payloadOffset + 8);
  b.writeUInt16BE(opts.ipId ?? 0, ip + 4);
  b.writeUInt16BE(0, ip + 10);
  b.writeUInt16BE(internetChecksum(b, ip, ip + 20), ip + 10);
  finishUdpChecksum(b, ip, f.udp!.offset, f.udp!.length);
  return parseFrame(b);
}

function replyOf(d: DhcpDecision | undefined): Extract<DhcpDecision, { action: 'reply' }> {
  if (!d || d.action !== 'reply') throw new Error(`expected a reply, got ${JSON.stringify(d)}`);
  return d;
}

/** Answers `f` as the agent does: from the memo if it can, else built, then remembered. */
function answer(memo: DhcpReplyMemo, slot: number, f: ParsedFrame, ctx: DhcpContext, inputs: unknown[]): DhcpDecision {
  const known = memo.get(slot, f, inputs);
  if (known) return known;
  const d = handleDhcp(f, ctx, 0);
  memo.set(slot, f, inputs, d);
  return d;
}

describe('DhcpReplyMemo', () => {
  const ctx = baseCtx();
  const inputs = [ctx.port, ctx.subnet, ctx.network, ctx.server.mac];

  it('answers a retransmitted DISCOVER and REQUEST with exactly the frames the server builds for them', () => {
    const memo = new DhcpReplyMemo();
    const discover = (xid: number, secs: number, ipId: number) => request({ type: T.DISCOVER, xid, prl: [1, 3, 6, 15, 26, 121] }, { secs, ipId });
    const selecting = (xid: number) => request({ type: T.REQUEST, xid, serverId: GW, requestedIp: ME, prl: [1, 3, 6, 15, 26, 121] }, { secs: 3 });
    answer(memo, 5, discover(0x1111, 0, 1), ctx, inputs);
    answer(memo, 5, selecting(0x1111), ctx, inputs);
    expect(memo.hits).toBe(0);

    const d2 = discover(0xabcdef01, 9, 777);
    const hit = replyOf(memo.get(5, d2, inputs));
    const fresh = replyOf(handleDhcp(d2, ctx, 0));
    expect(hit.frame.equals(fresh.frame)).toBe(true);
    expect([hit.kind, hit.state]).toEqual(['OFFER', 'INIT']);
    const p = parseFrame(hit.frame);
    expect(p.dhcp!.xid).toBe(0xabcdef01);
    expect(udpChecksumValid(p.buf, p.ipv4!, p.udp!)).toBe(true);

    const r2 = selecting(0x0badf00d);
    const ack = replyOf(memo.get(5, r2, inputs));
    expect(ack.frame.equals(replyOf(handleDhcp(r2, ctx, 0)).frame)).toBe(true);
    expect(ack.kind).toBe('ACK');
    expect(memo.hits).toBe(2);
    // The remembered reply itself is never stamped: the first hit's frame still carries its own xid.
    expect(parseFrame(hit.frame).dhcp!.xid).toBe(0xabcdef01);
  });

  it('misses when anything the reply depends on differs: request content, slot, or an input record', () => {
    const memo = new DhcpReplyMemo();
    answer(memo, 5, request({ type: T.DISCOVER, prl: [1, 3] }), ctx, inputs);
    expect(memo.get(5, request({ type: T.DISCOVER, prl: [1, 3, 6] }), inputs)).toBeUndefined(); // another option list
    expect(memo.get(5, request({ type: T.DISCOVER, prl: [1, 3], broadcast: true }), inputs)).toBeUndefined(); // flags
    expect(memo.get(6, request({ type: T.DISCOVER, prl: [1, 3] }), inputs)).toBeUndefined(); // another VM port
    // A changed subnet is a new record object in the view: the memo must not answer from the old one.
    const subnet = { ...ctx.subnet, dnsServers: ['10.77.0.99'] };
    const changed = [ctx.port, subnet, ctx.network, ctx.server.mac];
    expect(memo.get(5, request({ type: T.DISCOVER, prl: [1, 3] }), changed)).toBeUndefined();
    expect(memo.get(5, request({ type: T.DISCOVER, prl: [1, 3, 6] }), [ctx.port, ctx.subnet, ctx.network, '02:aa:00:00:00:02'])).toBeUndefined();
    expect(memo.hits).toBe(0);
    // …and the stale entry is gone: going back to the old inputs builds again.
    expect(memo.get(5, request({ type: T.DISCOVER, prl: [1, 3] }), inputs)).toBeUndefined();
    expect(memo.size).toBe(0);
  });

  it('remembers only replies: a drop is decided again each time', () => {
    const memo = new DhcpReplyMemo();
    const foreign = request({ type: T.DISCOVER, mac: '02:00:00:00:00:99' });
    const d = answer(memo, 5, foreign, ctx, inputs);
    expect(d.action).toBe('drop');
    expect(memo.size).toBe(0);
    expect(memo.get(5, foreign, inputs)).toBeUndefined();
  });

  it('keeps a few replies per port and a bounded number of ports', () => {
    const memo = new DhcpReplyMemo(2, 3);
    for (const prl of [[1], [1, 3], [1, 3, 6]]) answer(memo, 1, request({ type: T.DISCOVER, prl }), ctx, inputs);
    expect(memo.size).toBe(2);
    expect(memo.get(1, request({ type: T.DISCOVER, prl: [1] }), inputs)).toBeUndefined(); // the oldest went
    expect(memo.get(1, request({ type: T.DISCOVER, prl: [1, 3, 6] }), inputs)).toBeDefined();
    for (const slot of [2, 3]) answer(memo, slot, request({ type: T.DISCOVER }), ctx, inputs);
    expect(memo.get(1, request({ type: T.DISCOVER, prl: [1, 3, 6] }), inputs)).toBeDefined(); // port 1 answered last
    answer(memo, 4, request({ type: T.DISCOVER }), ctx, inputs);
    expect(memo.get(2, request({ type: T.DISCOVER }), inputs)).toBeUndefined(); // the least recently answered port went
    expect(memo.get(1, request({ type: T.DISCOVER, prl: [1, 3, 6] }), inputs)).toBeDefined();
    expect(memo.get(4, request({ type: T.DISCOVER }), inputs)).toBeDefined();
  });
});
