import { PacketError } from './errors.js';

/** Classic libpcap file format (not pcapng), Ethernet link type, microsecond timestamps. */
const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const LINKTYPE_ETHERNET = 1;

export interface PcapRecord {
  /** Milliseconds since the epoch (fractional allowed). */
  timeMs: number;
  data: Buffer;
}

/** Writes frames as a pcap file (for tshark/tcpdump/wireshark). */
export function writePcap(frames: ReadonlyArray<Buffer | PcapRecord>, snaplen = 262144): Buffer {
  const recs = frames.map((f, i) => (Buffer.isBuffer(f) ? { timeMs: 1_700_000_000_000 + i, data: f } : f));
  const out = Buffer.alloc(24 + recs.reduce((n, r) => n + 16 + r.data.length, 0));
  out.writeUInt32LE(MAGIC_US, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  out.writeInt32LE(0, 8);
  out.writeUInt32LE(0, 12);
  out.writeUInt32LE(snaplen, 16);
  out.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  let p = 24;
  for (const r of recs) {
    const sec = Math.floor(r.timeMs / 1000);
    out.writeUInt32LE(sec, p);
    out.writeUInt32LE(Math.floor((r.timeMs - sec * 1000) * 1000), p + 4);
    out.writeUInt32LE(r.data.length, p + 8);
    out.writeUInt32LE(r.data.length, p + 12);
    r.data.copy(out, p + 16);
    p += 16 + r.data.length;
  }
  return out;
}

/** Reads a classic pcap file (either byte order, µs or ns timestamps). */
export function readPcap(buf: Buffer): PcapRecord[] {
  if (buf.length < 24) throw new PacketError('pcap', 'truncated', 0, 'no global header');
  const le = buf.readUInt32LE(0);
  const be = buf.readUInt32BE(0);
  const little = le === MAGIC_US || le === MAGIC_NS;
  if (!little && be !== MAGIC_US && be !== MAGIC_NS) throw new PacketError('pcap', 'bad_magic', 0, 'not a pcap file');
  const nano = (little ? le : be) === MAGIC_NS;
  const u32 = (o: number): number => (little ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const out: PcapRecord[] = [];
  let p = 24;
  while (p < buf.length) {
    if (p + 16 > buf.length) throw new PacketError('pcap', 'truncated', p, 'record header');
    const incl = u32(p + 8);
    if (p + 16 + incl > buf.length) throw new PacketError('pcap', 'truncated', p, 'record data');
    const frac = u32(p + 4);
    out.push({ timeMs: u32(p) * 1000 + (nano ? frac / 1e6 : frac / 1e3), data: Buffer.from(buf.subarray(p + 16, p + 16 + incl)) });
    p += 16 + incl;
  }
  return out;
}
