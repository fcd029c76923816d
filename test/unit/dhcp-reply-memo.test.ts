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

/** Asks the memo as the agent does; `replayed` says whether the server had to build the answer. */
function ask(
  memo: DhcpReplyMemo,
  slot: number,
  f: ParsedFrame,
  ctx: DhcpContext,
  inputs: unknown[],
): { decision: DhcpDecision; replayed: boolean } {
  let built = false;
  const r = memo.answer(slot, f, inputs, () => {
    built = true;
    return handleDhcp(f, ctx, 0);
  });
  expect(built).toBe(!r.replayed);
  return r;
}

describe('DhcpReplyMemo', () => {
  const ctx = baseCtx();
  const inputs = [ctx.port, ctx.subnet, ctx.network, ctx.server.mac];
  const replayed = (memo: DhcpReplyMemo, slot: number, f: ParsedFrame, ins: unknown[] = inputs) => ask(memo, slot, f, ctx, ins).replayed;

  it('answers a retransmitted DISCOVER and REQUEST with exactly the frames the server builds for them', () => {
    const memo = new DhcpReplyMemo();
    const discover = (xid: number, secs: number, ipId: number) =>
      request({ type: T.DISCOVER, xid, prl: [1, 3, 6, 15, 26, 121] }, { secs, ipId });
    const selecting = (xid: number) =>
      request({ type: T.REQUEST, xid, serverId: GW, requestedIp: ME, prl: [1, 3, 6, 15, 26, 121] }, { secs: 3 });
    expect(replayed(memo, 5, discover(0x1111, 0, 1))).toBe(false);
    expect(replayed(memo, 5, selecting(0x1111))).toBe(false);

    const d2 = discover(0xabcdef01, 9, 777);
    const first = ask(memo, 5, d2, ctx, inputs);
    expect(first.replayed).toBe(true);
    const hit = replyOf(first.decision);
    const fresh = replyOf(handleDhcp(d2, ctx, 0));
    expect(hit.frame.equals(fresh.frame)).toBe(true);
    expect([hit.kind, hit.state]).toEqual(['OFFER', 'INIT']);
    const p = parseFrame(hit.frame);
    expect(p.dhcp!.xid).toBe(0xabcdef01);
    expect(udpChecksumValid(p.buf, p.ipv4!, p.udp!)).toBe(true);

    const r2 = selecting(0x0badf00d);
    const second = ask(memo, 5, r2, ctx, inputs);
    expect(second.replayed).toBe(true);
    const ack = replyOf(second.decision);
    expect(ack.frame.equals(replyOf(handleDhcp(r2, ctx, 0)).frame)).toBe(true);
    expect(ack.kind).toBe('ACK');
    // The remembered reply itself is never stamped: the first hit's frame still carries its own xid.
    expect(parseFrame(hit.frame).dhcp!.xid).toBe(0xabcdef01);
  });

  it('misses when anything the reply depends on differs: request content, slot, or an input record', () => {
    const memo = new DhcpReplyMemo();
    const disc = (prl: number[], broadcast = false) => request({ type: T.DISCOVER, prl, broadcast });
    expect(replayed(memo, 5, disc([1, 3]))).toBe(false);
    expect(memo.size).toBe(1);
    // Each probe below is a miss, whose built reply is then remembered beside the first one.
    expect(replayed(memo, 5, disc([1, 3, 6]))).toBe(false); // another option list
    expect(replayed(memo, 5, disc([1, 3], true))).toBe(false); // flags
    expect(replayed(memo, 6, disc([1, 3]))).toBe(false); // another VM port
    // A changed subnet is a new record object in the view: the memo must not answer from the old one.
    const subnet = { ...ctx.subnet, dnsServers: ['10.77.0.99'] };
    const changedCtx = { ...ctx, subnet, server: { mac: '02:aa:00:00:00:07' } };
    const afterChange = ask(memo, 5, disc([1, 3]), changedCtx, [ctx.port, subnet, ctx.network, changedCtx.server.mac]);
    expect(afterChange.replayed).toBe(false);
    expect(replyOf(afterChange.decision).frame.equals(replyOf(handleDhcp(disc([1, 3]), changedCtx, 0)).frame)).toBe(true);
    expect(parseFrame(replyOf(afterChange.decision).frame).eth.src).toBe('02:aa:00:00:00:07');
    expect(replayed(memo, 5, disc([1, 3, 6]), [ctx.port, ctx.subnet, ctx.network, '02:aa:00:00:00:02'])).toBe(false);
    // …and the stale entry is gone: going back to the old inputs builds again.
    expect(replayed(memo, 5, disc([1, 3]))).toBe(false);
    expect(replayed(memo, 5, disc([1, 3]))).toBe(true);
  });

  it('remembers only replies: a drop is decided again each time', () => {
    const memo = new DhcpReplyMemo();
    const foreign = request({ type: T.DISCOVER, mac: '02:00:00:00:00:99' });
    const d = ask(memo, 5, foreign, ctx, inputs);
    expect(d.decision.action).toBe('drop');
    expect(memo.size).toBe(0);
    expect(replayed(memo, 5, foreign)).toBe(false);
  });

  it('keeps a few replies per port and a bounded number of ports', () => {
    const memo = new DhcpReplyMemo(2, 3);
    for (const prl of [[1], [1, 3], [1, 3, 6]]) ask(memo, 1, request({ type: T.DISCOVER, prl }), ctx, inputs);
    expect(memo.size).toBe(2);
    expect(replayed(memo, 1, request({ type: T.DISCOVER, prl: [1, 3, 6] }))).toBe(true);
    expect(replayed(memo, 1, request({ type: T.DISCOVER, prl: [1] }))).toBe(false); // the oldest went
    for (const slot of [2, 3]) ask(memo, slot, request({ type: T.DISCOVER }), ctx, inputs);
    expect(replayed(memo, 1, request({ type: T.DISCOVER, prl: [1] }))).toBe(true); // port 1 answered last
    ask(memo, 4, request({ type: T.DISCOVER }), ctx, inputs);
    expect(replayed(memo, 2, request({ type: T.DISCOVER }))).toBe(false); // the least recently answered port went
    expect(replayed(memo, 1, request({ type: T.DISCOVER, prl: [1] }))).toBe(true);
    expect(replayed(memo, 4, request({ type: T.DISCOVER }))).toBe(true);
  });
});
