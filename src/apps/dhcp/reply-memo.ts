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
  hits = 0;
  private readonly bySlot = new Map<number, Entry[]>();

  /** perSlot replies per VM port; maxSlots ports, the least recently answered dropped first. */
  constructor(private readonly perSlot = 8, private readonly maxSlots = 4096) {}

  /** The remembered reply to `f` from `slot` (the VM's ofport), stamped with f's xid, if the inputs are the same. */
  get(slot: number, f: ParsedFrame, inputs: readonly unknown[]): Reply | undefined {
    const entries = this.bySlot.get(slot);
    if (!entries) return undefined;
    const k = requestKey(f);
    if (!k) return undefined;
    const i = entries.findIndex((e) => e.key === k.key);
    if (i < 0) return undefined;
    const e = entries[i]!;
    if (!sameInputs(e.inputs, inputs)) {
      entries.splice(i, 1);
      return undefined;
    }
    if (i > 0) entries.unshift(...entries.splice(i, 1));
    this.bySlot.delete(slot); // most recently answered last: see set()
    this.bySlot.set(slot, entries);
    const frame = Buffer.from(e.reply.frame);
    frame.writeUInt32BE(k.xid, e.xidOffset);
    finishUdpChecksum(frame, e.ipOffset, e.udpOffset, e.udpLength);
    this.hits++;
    return { ...e.reply, frame };
  }

  /** Remembers the reply `d` gave to `f`; anything but a reply is ignored. */
  set(slot: number, f: ParsedFrame, inputs: readonly unknown[], d: DhcpDecision): void {
    if (d.action !== 'reply') return;
    const k = requestKey(f);
    if (!k) return;
    const parsed = parseFrame(d.frame, { dhcp: false });
    if (!parsed.ipv4 || !parsed.udp) return;
    const entry: Entry = {
      key: k.key,
      inputs: [...inputs],
      reply: d,
      xidOffset: parsed.udp.payloadOffset + 4,
      ipOffset: parsed.ipv4.offset,
      udpOffset: parsed.udp.offset,
      udpLength: parsed.udp.length,
    };
    const entries = (this.bySlot.get(slot) ?? []).filter((e) => e.key !== k.key);
    entries.unshift(entry);
    if (entries.length > this.perSlot) entries.length = this.perSlot;
    // Re-inserting keeps the map in least-recently-answered order, so the first key is the one to drop.
    this.bySlot.delete(slot);
    this.bySlot.set(slot, entries);
    if (this.bySlot.size > this.maxSlots) this.bySlot.delete(this.bySlot.keys().next().value!);
  }

  get size(): number {
    let n = 0;
    for (const e of this.bySlot.values()) n += e.length;
    return n;
  }
}

function sameInputs(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
