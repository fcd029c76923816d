import { intToIp, ipToInt, toCidr } from '../net/addr.js';
import { PacketError } from './errors.js';

/** DHCP option codes used by wyvern (RFC 2132 unless noted). */
export const OPT = {
  pad: 0,
  subnetMask: 1,
  router: 3,
  dns: 6,
  hostname: 12,
  domain: 15,
  mtu: 26,
  broadcast: 28,
  requestedIp: 50,
  leaseTime: 51,
  overload: 52,
  messageType: 53,
  serverId: 54,
  parameterRequestList: 55,
  message: 56,
  maxMessageSize: 57,
  renewalTime: 58,
  rebindingTime: 59,
  clientId: 61,
  relayAgentInfo: 82, // RFC 3046
  classlessRoutes: 121, // RFC 3442
  msClasslessRoutes: 249, // Microsoft's pre-standard 121
  end: 255,
} as const;

/**
 * Decoded options: code → value. Options appearing several times are concatenated (RFC 3396) in the order
 * options field, file, sname.
 */
export type DhcpOptions = Map<number, Buffer>;

/**
 * Walks one option area buf[start, end) and appends each option's data to `parts`. Stops at END; a missing
 * END at the end of the area is tolerated (common in the wild). Throws PacketError on an option whose
 * length runs past the area.
 */
export function scanOptionArea(buf: Buffer, start: number, end: number, parts: Map<number, Buffer[]>): void {
  let p = start;
  while (p < end) {
    const code = buf[p]!;
    if (code === OPT.pad) {
      p++;
      continue;
    }
    if (code === OPT.end) return;
    if (p + 1 >= end) throw new PacketError('dhcp', 'truncated', p, `option ${code} has no length byte`);
    const len = buf[p + 1]!;
    if (p + 2 + len > end) throw new PacketError('dhcp', 'bad_option', p, `option ${code} length ${len} runs past the area`);
    const list = parts.get(code);
    const data = buf.subarray(p + 2, p + 2 + len);
    if (list) list.push(data);
    else parts.set(code, [data]);
    p += 2 + len;
  }
}

/**
 * Joins the per-area pieces into one value per code (RFC 3396 concatenation). A value found once is a view
 * into the parsed buffer (no copy: parsing is on the PACKET_IN hot path); copy it to keep it past the buffer.
 */
export function joinOptionParts(parts: Map<number, Buffer[]>): DhcpOptions {
  const out: DhcpOptions = new Map();
  for (const [code, list] of parts) out.set(code, list.length === 1 ? list[0]! : Buffer.concat(list));
  return out;
}

// ---------------------------------------------------------------------------------------------- values

export function optU8(v: number): Buffer {
  return Buffer.from([v & 0xff]);
}
export function optU16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return b;
}
export function optU32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}
export function optIps(ips: readonly string[]): Buffer {
  const b = Buffer.alloc(4 * ips.length);
  ips.forEach((ip, i) => b.writeUInt32BE(ipToInt(ip), 4 * i));
  return b;
}
export function optText(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}
/** Reads a list of IPv4 addresses; throws PacketError unless the length is a multiple of 4. */
export function readIps(v: Buffer, code: number): string[] {
  if (v.length % 4 !== 0 || v.length === 0)
    throw new PacketError('dhcp', 'bad_option', 0, `option ${code} length ${v.length} not a multiple of 4`);
  const out: string[] = [];
  for (let i = 0; i < v.length; i += 4) out.push(intToIp(v.readUInt32BE(i)));
  return out;
}

// ---------------------------------------------------------------------------------- RFC 3442 routes

export interface ClasslessRoute {
  /** "a.b.c.d/n"; host bits are cleared on encode. */
  destination: string;
  router: string;
}

export function encodeClasslessRoutes(routes: readonly ClasslessRoute[]): Buffer {
  const chunks: number[] = [];
  for (const r of routes) {
    const { network, prefix } = toCidr(r.destination);
    chunks.push(prefix);
    const significant = Math.ceil(prefix / 8);
    for (let i = 0; i < significant; i++) chunks.push((network >>> (24 - 8 * i)) & 0xff);
    const gw = ipToInt(r.router);
    chunks.push(gw >>> 24, (gw >>> 16) & 0xff, (gw >>> 8) & 0xff, gw & 0xff);
  }
  return Buffer.from(chunks);
}

export function decodeClasslessRoutes(v: Buffer): ClasslessRoute[] {
  const out: ClasslessRoute[] = [];
  let p = 0;
  while (p < v.length) {
    const prefix = v[p]!;
    if (prefix > 32) throw new PacketError('dhcp', 'bad_option', p, `classless route width ${prefix} > 32`);
    const significant = Math.ceil(prefix / 8);
    if (p + 1 + significant + 4 > v.length) throw new PacketError('dhcp', 'bad_option', p, 'classless route truncated');
    let net = 0;
    for (let i = 0; i < 4; i++) net = net * 256 + (i < significant ? v[p + 1 + i]! : 0);
    out.push({ destination: `${intToIp(net)}/${prefix}`, router: intToIp(v.readUInt32BE(p + 1 + significant)) });
    p += 1 + significant + 4;
  }
  return out;
}

// ------------------------------------------------------------------------------------ layout/overload

export interface OptionLayout {
  /** Bytes for the options field (after the magic cookie), END included. */
  main: Buffer;
  /** Contents of the 128-byte file field when overloaded, else undefined. */
  file?: Buffer;
  /** Contents of the 64-byte sname field when overloaded, else undefined. */
  sname?: Buffer;
  /** Value of option 52 used (0 = no overload). */
  overload: 0 | 1 | 2 | 3;
  /** Codes that fit nowhere and were left out (lowest priority last in the input, so dropped first). */
  dropped: number[];
}

const FILE_LEN = 128;
const SNAME_LEN = 64;

/** Encoded size of one option whose data is `len` bytes, split into ≤255-byte instances (RFC 3396). */
function encodedSize(len: number): number {
  return len === 0 ? 2 : len + 2 * Math.ceil(len / 255);
}

interface Area {
  cap: number; // usable bytes, END excluded
  used: number;
  /** Option instances in order: code, and data of at most 255 bytes. */
  pieces: Array<[number, Buffer]>;
}

function emit(area: Area, code: number, data: Buffer): void {
  area.pieces.push([code, data]);
  area.used += 2 + data.length;
}

/**
 * Lays options out in priority order (input order; put 53 first). Everything goes in the options field
 * when it fits `mainSpace` bytes (END included); otherwise option 52 is added and options spill into file
 * then sname. Options of ≤255 bytes are kept whole (first area with room); longer ones are split across
 * instances and areas per RFC 3396. An option that cannot be placed at all is dropped and reported.
 */
export function layoutOptions(options: ReadonlyArray<readonly [number, Buffer]>, mainSpace: number): OptionLayout {
  let total = 1;
  for (const [, data] of options) total += encodedSize(data.length);
  if (total <= mainSpace) {
    const main: Area = { cap: mainSpace - 1, used: 0, pieces: [] };
    for (const [code, data] of options) if (data.length > 255 || !placeWhole([main], code, data)) placeSplit([main], code, data);
    return { main: finish(main), overload: 0, dropped: [] };
  }
  const areas: Area[] = [
    { cap: Math.max(0, mainSpace - 1 - 3), used: 0, pieces: [] },
    { cap: FILE_LEN - 1, used: 0, pieces: [] },
    { cap: SNAME_LEN - 1, used: 0, pieces: [] },
  ];
  const dropped: number[] = [];
  for (const [code, data] of options) {
    const ok = data.length <= 255 ? placeWhole(areas, code, data) : placeSplit(areas, code, data);
    if (!ok) dropped.push(code);
  }
  const [main, file, sname] = areas as [Area, Area, Area];
  const overload = ((file.pieces.length > 0 ? 1 : 0) | (sname.pieces.length > 0 ? 2 : 0)) as 0 | 1 | 2 | 3;
  if (overload !== 0) {
    // Keep the message type first: some old clients look for 53 at the start.
    const at = main.pieces.length > 0 && main.pieces[0]![0] === OPT.messageType ? 1 : 0;
    main.pieces.splice(at, 0, [OPT.overload, Buffer.from([overload])]);
    main.used += 3;
  }
  return {
    main: finish(main),
    file: overload & 1 ? finish(file) : undefined,
    sname: overload & 2 ? finish(sname) : undefined,
    overload,
    dropped,
  };
}

function placeWhole(areas: Area[], code: number, data: Buffer): boolean {
  const size = 2 + data.length;
  for (const a of areas) {
    if (a.cap - a.used >= size) {
      emit(a, code, data);
      return true;
    }
  }
  return false;
}

function placeSplit(areas: Area[], code: number, data: Buffer): boolean {
  const marks = areas.map((a) => [a.pieces.length, a.used] as const);
  let left = data;
  if (left.length === 0) return placeWhole(areas, code, left);
  for (const a of areas) {
    while (left.length > 0 && a.cap - a.used >= 3) {
      const n = Math.min(255, a.cap - a.used - 2, left.length);
      emit(a, code, left.subarray(0, n));
      left = left.subarray(n);
    }
    if (left.length === 0) return true;
  }
  areas.forEach((a, i) => {
    a.pieces.length = marks[i]![0];
    a.used = marks[i]![1];
  });
  return false;
}

function finish(a: Area): Buffer {
  const out = Buffer.allocUnsafe(a.used + 1);
  let p = 0;
  for (const [code, data] of a.pieces) {
    out[p] = code;
    out[p + 1] = data.length;
    data.copy(out, p + 2);
    p += 2 + data.length;
  }
  out[p] = OPT.end;
  return out;
}
