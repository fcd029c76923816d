import { finishUdpChecksum, parseFrame, type ParsedFrame } from '../../packet/index.js';
import type { DhcpDecision } from './types.js';

type Reply = Extract<DhcpDecision, { action: 'reply' }>;

interface Entry {
  /** The request's bytes with the per-transmission fields zeroed. */
  key: string;
  /** What the reply was computed from, compared by identity. */
  inputs: readonly unknown[];
  reply: Reply;
  /** Where the reply's xid and UDP header sit, to stamp a new xid and re-checksum. */
  xidOffset: number;
  ipOffset: number;
  udpOffset: number;
  udpLength: number;
}

/** Per-transmission fields of a client's request: IPv4 identification and checksum, UDP checksum, BOOTP xid and secs. */
function requestKey(f: ParsedFrame): { key: string; xid: number } | undefined {
  const ip = f.ipv4;
  const udp = f.udp;
  if (!ip || !udp || !f.dhcp) return undefined;
  const b = Buffer.from(f.buf);
  const bootp = udp.payloadOffset;
  b.fill(0, ip.offset + 4, ip.offset + 6);
  b.fill(0, ip.offset + 10, ip.offset + 12);
  b.fill(0, udp.offset + 6, udp.offset + 8);
  const xid = b.readUInt32BE(bootp + 4);
  b.fill(0, bootp + 4, bootp + 10);
  return { key: b.toString('latin1'), xid };
}

/**
 * Replies already built, by request. The DHCP server is a pure function of the request frame and what it is
 * answered from (the port, subnet and network records, the server MAC), and a client repeats a request byte for
 * byte but for the fields it varies per transmission (see requestKey). A request seen before, answered from the
 * same records, gets the reply built then with its own xid: the topology view replaces a record's object
 * whenever the record changes, so comparing the inputs by identity is enough to never answer from stale
 * configuration. Only replies are kept (drops are cheap and counted by reason); a few per port, newest first,
 * for a bounded number of ports.
 *
 * Why: a VM's DHCP exchanges are seconds apart, so the agent runs this path as cold, unoptimised code, where
 * building a reply costs a large share of the agent's time to answer (docs/benchmarks.md, bench:dhcp).
 */
export class DhcpReplyMemo {
  private readonly bySlot = new Map<number, Entry[]>();

  /** perSlot replies per VM port; maxSlots ports, the least recently answered dropped first. */
  constructor(
    private readonly perSlot = 8,
    private readonly maxSlots = 4096,
  ) {}

  /**
   * The answer to `f` from `slot` (the VM's ofport): the remembered reply stamped with f's xid when `inputs` are
   * the same objects as then (replayed), else what `build` decides, remembered if it is a reply.
   */
  answer(
    slot: number,
    f: ParsedFrame,
    inputs: readonly unknown[],
    build: () => DhcpDecision,
  ): { decision: DhcpDecision; replayed: boolean } {
    const k = requestKey(f);
    if (!k) return { decision: build(), replayed: false };
    const entries = this.bySlot.get(slot) ?? [];
    const i = entries.findIndex((e) => e.key === k.key);
    const e = entries[i];
    if (e && sameInputs(e.inputs, inputs)) {
      entries.unshift(...entries.splice(i, 1));
      this.touch(slot, entries);
      const frame = Buffer.from(e.reply.frame);
      frame.writeUInt32BE(k.xid, e.xidOffset);
      finishUdpChecksum(frame, e.ipOffset, e.udpOffset, e.udpLength);
      return { decision: { ...e.reply, frame }, replayed: true };
    }
    if (e) entries.splice(i, 1); // built from records since replaced
    const decision = build();
    const parsed = decision.action === 'reply' ? parseFrame(decision.frame, { dhcp: false }) : undefined;
    if (decision.action === 'reply' && parsed?.ipv4 && parsed.udp) {
      entries.unshift({
        key: k.key,
        inputs: [...inputs],
        reply: decision,
        xidOffset: parsed.udp.payloadOffset + 4,
        ipOffset: parsed.ipv4.offset,
        udpOffset: parsed.udp.offset,
        udpLength: parsed.udp.length,
      });
      if (entries.length > this.perSlot) entries.length = this.perSlot;
    }
    if (entries.length > 0) this.touch(slot, entries);
    else this.bySlot.delete(slot);
    return { decision, replayed: false };
  }

  /** Replies remembered, over all ports. */
  get size(): number {
    let n = 0;
    for (const e of this.bySlot.values()) n += e.length;
    return n;
  }

  /** Marks `slot` most recently answered: the map iterates least recently answered first, the one to drop. */
  private touch(slot: number, entries: Entry[]): void {
    this.bySlot.delete(slot);
    this.bySlot.set(slot, entries);
    if (this.bySlot.size > this.maxSlots) this.bySlot.delete(this.bySlot.keys().next().value!);
  }
}

function sameInputs(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
