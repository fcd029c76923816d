import { readIpv4, macToString, writeIpv4, writeMac } from '../net/addr.js';
import { PacketError, need } from './errors.js';
import { OPT, joinOptionParts, layoutOptions, scanOptionArea, type DhcpOptions } from './dhcp-options.js';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const DHCP_MAGIC = 0x63825363;
/** Fixed BOOTP header (236) + magic cookie (4). */
export const DHCP_FIXED_LEN = 240;
/** RFC 1542 §2.1: pad replies to the 300-byte BOOTP minimum for old relays and clients. */
export const BOOTP_MIN_LEN = 300;
/** Largest DHCP message every client must accept: 576-byte IP datagram − 20 IP − 8 UDP. */
export const DHCP_DEFAULT_MAX_LEN = 548;
export const DHCP_FLAG_BROADCAST = 0x8000;

export const DHCP_TYPE = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

const SNAME_OFF = 44;
const FILE_OFF = 108;
const COOKIE_OFF = 236;

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  broadcast: boolean;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** chaddr as a MAC when htype=1/hlen=6, else hex of the first hlen bytes. */
  chaddr: string;
  /** The raw 16-byte chaddr field (a copy), echoed in replies. */
  chaddrRaw: Buffer;
  /** Empty when the field carries options (overload). */
  sname: string;
  file: string;
  /** Option 52 value seen (0 none). */
  overload: number;
  options: DhcpOptions;
  // Frequently used options, validated on parse (a bad length is a PacketError).
  messageType?: number;
  requestedIp?: string;
  serverId?: string;
  parameterRequestList?: number[];
  maxMessageSize?: number;
}

function cstr(buf: Buffer, start: number, end: number): string {
  const z = buf.indexOf(0, start);
  return buf.toString('latin1', start, z < 0 || z > end ? end : z);
}

function fixedLen(v: Buffer | undefined, len: number, code: number, at: number): Buffer | undefined {
  if (v && v.length !== len) throw new PacketError('dhcp', 'bad_option', at, `option ${code} length ${v.length}, expected ${len}`);
  return v;
}

/** Parses a DHCP/BOOTP message in buf[off, end). Requires the magic cookie (plain BOOTP is not served). */
export function parseDhcp(buf: Buffer, off: number, end: number): DhcpMessage {
  need('dhcp', off, DHCP_FIXED_LEN, end, 'fixed header and magic cookie');
  const hlen = buf[off + 2]!;
  if (hlen > 16) throw new PacketError('dhcp', 'bad_value', off + 2, `hlen ${hlen} > 16`);
  if (buf.readUInt32BE(off + COOKIE_OFF) !== DHCP_MAGIC)
    throw new PacketError('dhcp', 'bad_magic', off + COOKIE_OFF, 'no DHCP magic cookie');
  const parts = new Map<number, Buffer[]>();
  scanOptionArea(buf, off + DHCP_FIXED_LEN, end, parts);
  const ov = parts.get(OPT.overload);
  let overload = 0;
  if (ov) {
    if (ov.length !== 1 || ov[0]!.length !== 1 || ov[0]![0]! < 1 || ov[0]![0]! > 3) {
      throw new PacketError('dhcp', 'bad_option', off + DHCP_FIXED_LEN, 'bad option overload (52)');
    }
    overload = ov[0]![0]!;
    // RFC 3396 §6 aggregate order: options field, then file, then sname.
    if (overload & 1) scanOptionArea(buf, off + FILE_OFF, off + COOKIE_OFF, parts);
    if (overload & 2) scanOptionArea(buf, off + SNAME_OFF, off + FILE_OFF, parts);
  }
  const options = joinOptionParts(parts);
  const at = off + DHCP_FIXED_LEN;
  const mt = fixedLen(options.get(OPT.messageType), 1, OPT.messageType, at);
  const rq = fixedLen(options.get(OPT.requestedIp), 4, OPT.requestedIp, at);
  const sid = fixedLen(options.get(OPT.serverId), 4, OPT.serverId, at);
  const mms = fixedLen(options.get(OPT.maxMessageSize), 2, OPT.maxMessageSize, at);
  const prl = options.get(OPT.parameterRequestList);
  const flags = buf.readUInt16BE(off + 10);
  const htype = buf[off + 1]!;
  return {
    op: buf[off]!,
    htype,
    hlen,
    hops: buf[off + 3]!,
    xid: buf.readUInt32BE(off + 4),
    secs: buf.readUInt16BE(off + 8),
    flags,
    broadcast: (flags & DHCP_FLAG_BROADCAST) !== 0,
    ciaddr: readIpv4(buf, off + 12),
    yiaddr: readIpv4(buf, off + 16),
    siaddr: readIpv4(buf, off + 20),
    giaddr: readIpv4(buf, off + 24),
    chaddr: htype === 1 && hlen === 6 ? macToString(buf, off + 28) : buf.toString('hex', off + 28, off + 28 + hlen),
    chaddrRaw: Buffer.from(buf.subarray(off + 28, off + 44)),
    sname: overload & 2 ? '' : cstr(buf, off + SNAME_OFF, off + FILE_OFF),
    file: overload & 1 ? '' : cstr(buf, off + FILE_OFF, off + COOKIE_OFF),
    overload,
    options,
    messageType: mt?.[0],
    requestedIp: rq ? readIpv4(rq) : undefined,
    serverId: sid ? readIpv4(sid) : undefined,
    parameterRequestList: prl ? [...prl] : undefined,
    maxMessageSize: mms?.readUInt16BE(0),
  };
}

export interface DhcpBuild {
  op: number;
  xid: number;
  flags?: number;
  secs?: number;
  hops?: number;
  ciaddr?: string;
  yiaddr?: string;
  siaddr?: string;
  giaddr?: string;
  /** A MAC string, or the raw 16-byte chaddr field to echo. */
  chaddr: string | Buffer;
  htype?: number;
  hlen?: number;
  sname?: string;
  file?: string;
  /** In priority order (53 first); lower-priority options are dropped first when space runs out. */
  options: ReadonlyArray<readonly [number, Buffer]>;
  /** Largest DHCP message (UDP payload) allowed; default 548 (576-byte IP datagram). */
  maxLength?: number;
}

export interface BuiltDhcp {
  payload: Buffer;
  overload: number;
  dropped: number[];
}

/** Serialises a DHCP message, overloading sname/file when the options don't fit `maxLength`. */
export function buildDhcp(m: DhcpBuild): BuiltDhcp {
  const maxLength = Math.max(DHCP_DEFAULT_MAX_LEN, m.maxLength ?? DHCP_DEFAULT_MAX_LEN);
  const lay = layoutOptions(m.options, maxLength - DHCP_FIXED_LEN);
  const len = Math.max(BOOTP_MIN_LEN, DHCP_FIXED_LEN + lay.main.length);
  const b = Buffer.alloc(len);
  b[0] = m.op;
  b[1] = m.htype ?? 1;
  b[2] = m.hlen ?? 6;
  b[3] = m.hops ?? 0;
  b.writeUInt32BE(m.xid >>> 0, 4);
  b.writeUInt16BE(m.secs ?? 0, 8);
  b.writeUInt16BE(m.flags ?? 0, 10);
  writeIpv4(b, 12, m.ciaddr ?? '0.0.0.0');
  writeIpv4(b, 16, m.yiaddr ?? '0.0.0.0');
  writeIpv4(b, 20, m.siaddr ?? '0.0.0.0');
  writeIpv4(b, 24, m.giaddr ?? '0.0.0.0');
  if (typeof m.chaddr === 'string') writeMac(b, 28, m.chaddr);
  else m.chaddr.copy(b, 28, 0, Math.min(16, m.chaddr.length));
  if (lay.sname) lay.sname.copy(b, SNAME_OFF);
  else if (m.sname) b.write(m.sname.slice(0, 63), SNAME_OFF, 'latin1');
  if (lay.file) lay.file.copy(b, FILE_OFF);
  else if (m.file) b.write(m.file.slice(0, 127), FILE_OFF, 'latin1');
  b.writeUInt32BE(DHCP_MAGIC, COOKIE_OFF);
  lay.main.copy(b, DHCP_FIXED_LEN);
  return { payload: b, overload: lay.overload, dropped: lay.dropped };
}
