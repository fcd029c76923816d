/**
 * The switch's share of a DHCP reply, measured: the agent is stopped (its flows stay on br-int, fail_mode=secure)
 * and a minimal responder takes its place on br-int.mgmt. It answers each DISCOVER/REQUEST that the pipeline
 * sends to the controller with the reply frame wyvern itself sent for that request type, xid patched, as one
 * PACKET_OUT: no parsing beyond the DHCP message type, no lookups, no framework. Whatever reply time it gets is
 * what OVS (upcall, PACKET_IN, PACKET_OUT, output) and the language's socket wake-up cost; the agent's own share
 * is the difference. Two of them: plain Python (as close to C as a script gets here) and plain Node (the floor
 * for any Node agent, wyvern's runtime).
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DHCP_TYPE, parseFrame, readPcap } from '../../src/packet/index.js';

/** Shared by both responders: where the DHCP message type and xid sit in an untagged IPv4/UDP/BOOTP frame. */
const LAYOUT = { xid: 46, udpCsum: 40, options: 14 + 20 + 8 + 240 };

const RESPONDER_PY = String.raw`
import socket, struct, sys
sock_path, offer_hex, ack_hex = sys.argv[1:4]
XID, CSUM, OPTS = ${LAYOUT.xid}, ${LAYOUT.udpCsum}, ${LAYOUT.options}
tmpl = {1: bytes.fromhex(open(offer_hex).read()), 3: bytes.fromhex(open(ack_hex).read())}
def msg_type(f):
    o = OPTS
    while o + 1 < len(f):
        t = f[o]
        if t == 255: break
        if t == 0: o += 1; continue
        if t == 53: return f[o + 2]
        o += 2 + f[o + 1]
    return None
def patch(t, xid):
    # RFC 1624 incremental checksum update for the two 16-bit words of the xid.
    f = bytearray(t)
    s = ~struct.unpack('!H', f[CSUM:CSUM + 2])[0] & 0xffff
    for i in (0, 2):
        s += (~struct.unpack('!H', f[XID + i:XID + i + 2])[0] & 0xffff) + struct.unpack('!H', xid[i:i + 2])[0]
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    f[XID:XID + 4] = xid
    f[CSUM:CSUM + 2] = struct.pack('!H', (~s & 0xffff) or 0xffff)
    return bytes(f)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock_path)
s.sendall(struct.pack('!BBHI', 4, 0, 8, 1))
s.sendall(struct.pack('!BBHIHH', 4, 9, 12, 2, 0, 0xffff))  # a service connection gets PACKET_INs only with miss_send_len set
sys.stdout.write('ready\n'); sys.stdout.flush()
buf = b''
while True:
    d = s.recv(65536)
    if not d: break
    buf += d
    while len(buf) >= 8:
        ln = struct.unpack('!H', buf[2:4])[0]
        if len(buf) < ln: break
        m, buf = buf[:ln], buf[ln:]
        if m[1] == 2:
            s.sendall(m[:1] + b'\x03' + m[2:])
        elif m[1] == 10:
            mlen = struct.unpack('!H', m[26:28])[0]
            in_port, o = None, 28
            while o + 4 <= 24 + mlen:
                h = struct.unpack('!I', m[o:o + 4])[0]
                if h >> 16 == 0x8000 and (h >> 9) & 0x7f == 0: in_port = struct.unpack('!I', m[o + 4:o + 8])[0]  # OXM in_port
                o += 4 + (h & 0xff)
            f = m[24 + (mlen + 7) // 8 * 8 + 2:]
            t = tmpl.get(msg_type(f)) if len(f) > OPTS else None
            if t is None or in_port is None: continue
            out = patch(t, f[XID:XID + 4])
            acts = struct.pack('!HHIH6x', 0, 16, in_port, 0)
            body = struct.pack('!IIH6x', 0xffffffff, 0xfffffffd, len(acts)) + acts + out
            s.sendall(struct.pack('!BBHI', 4, 13, 8 + len(body), 3) + body)
`;

const RESPONDER_NODE = String.raw`
import net from 'node:net';
import { readFileSync } from 'node:fs';
const [sockPath, offerHex, ackHex] = process.argv.slice(2);
const XID = ${LAYOUT.xid}, CSUM = ${LAYOUT.udpCsum}, OPTS = ${LAYOUT.options};
const tmpl = new Map([[1, Buffer.from(readFileSync(offerHex, 'utf8'), 'hex')], [3, Buffer.from(readFileSync(ackHex, 'utf8'), 'hex')]]);
const msgType = (f) => {
  for (let o = OPTS; o + 1 < f.length;) {
    const t = f[o];
    if (t === 255) break;
    if (t === 0) { o++; continue; }
    if (t === 53) return f[o + 2];
    o += 2 + f[o + 1];
  }
  return -1;
};
const patch = (t, f) => {
  const out = Buffer.from(t);
  let s = ~out.readUInt16BE(CSUM) & 0xffff;
  for (const i of [0, 2]) s += (~out.readUInt16BE(XID + i) & 0xffff) + f.readUInt16BE(XID + i);
  while (s >> 16) s = (s & 0xffff) + (s >>> 16);
  f.copy(out, XID, XID, XID + 4);
  out.writeUInt16BE((~s & 0xffff) || 0xffff, CSUM);
  return out;
};
const s = net.connect(sockPath, () => process.stdout.write('ready\n'));
const setConfig = Buffer.from([4, 9, 0, 12, 0, 0, 0, 2, 0, 0, 0xff, 0xff]);
s.write(Buffer.concat([Buffer.from([4, 0, 0, 8, 0, 0, 0, 1]), setConfig]));
let buf = Buffer.alloc(0);
s.on('data', (d) => {
  buf = buf.length ? Buffer.concat([buf, d]) : d;
  while (buf.length >= 8) {
    const ln = buf.readUInt16BE(2);
    if (buf.length < ln) break;
    const m = buf.subarray(0, ln);
    buf = buf.subarray(ln);
    if (m[1] === 2) { const r = Buffer.from(m); r[1] = 3; s.write(r); continue; }
    if (m[1] !== 10) continue;
    const mlen = m.readUInt16BE(26);
    let inPort;
    for (let o = 28; o + 4 <= 24 + mlen;) {
      const h = m.readUInt32BE(o);
      if (h >>> 16 === 0x8000 && ((h >>> 9) & 0x7f) === 0) inPort = m.readUInt32BE(o + 4);
      o += 4 + (h & 0xff);
    }
    const f = m.subarray(24 + Math.ceil(mlen / 8) * 8 + 2);
    const t = f.length > OPTS ? tmpl.get(msgType(f)) : undefined;
    if (!t || inPort === undefined) continue;
    const out = patch(t, f);
    const po = Buffer.alloc(40 + out.length);
    po[0] = 4; po[1] = 13; po.writeUInt16BE(po.length, 2); po.writeUInt32BE(3, 4);
    po.writeUInt32BE(0xffffffff, 8); po.writeUInt32BE(0xfffffffd, 12); po.writeUInt16BE(16, 16);
    po.writeUInt16BE(16, 26); po.writeUInt32BE(inPort, 28);
    out.copy(po, 40);
    s.write(po);
  }
});
`;

export interface FloorTemplates {
  offer: Buffer;
  ack: Buffer;
}

/** wyvern's own OFFER and ACK from a capture of its replies (untagged frames, as the bench VM sends). */
export async function templatesFrom(pcapFile: string): Promise<FloorTemplates> {
  const frames = readPcap(await readFile(pcapFile)).map((r) => r.data);
  const ofType = (t: number) => frames.find((f) => parseFrame(f).dhcp?.messageType === t);
  const offer = ofType(DHCP_TYPE.OFFER);
  const ack = ofType(DHCP_TYPE.ACK);
  if (!offer || !ack) throw new Error(`${pcapFile}: no OFFER and ACK of wyvern's to replay`);
  return { offer, ack };
}

/**
 * Runs one minimal responder on `mgmtSock` while `measure` runs, then stops it. The agent must be stopped
 * first: a second controller would get the same PACKET_INs and answer them twice.
 */
export async function withFloorResponder<T>(
  lang: 'python' | 'node',
  mgmtSock: string,
  t: FloorTemplates,
  dir: string,
  measure: () => Promise<T>,
): Promise<T> {
  const offer = join(dir, 'floor-offer.hex');
  const ack = join(dir, 'floor-ack.hex');
  await writeFile(offer, t.offer.toString('hex'));
  await writeFile(ack, t.ack.toString('hex'));
  const script = join(dir, lang === 'python' ? 'floor.py' : 'floor.mjs');
  await writeFile(script, lang === 'python' ? RESPONDER_PY : RESPONDER_NODE);
  const child = spawn(lang === 'python' ? 'python3' : process.execPath, [script, mgmtSock, offer, ack], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve();
      });
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.once('exit', (code) => reject(new Error(`${lang} floor responder exited ${code}: ${err}`)));
    });
    return await measure();
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}
