/**
 * Times etcd watch delivery on the wire from a loopback capture of one member's client port: for each put
 * (a gRPC message from the client whose value is a decimal send time), the time from its frame to each watch
 * event carrying that value in a frame leaving etcd. HTTP/2 and gRPC framing are parsed from the raw TCP payload
 * that tshark prints, so no dissector setting matters; only the protobuf fields on the path to the event's value
 * are decoded (WatchResponse.events = 11, Event.kv = 2, KeyValue.value = 5).
 */
import { execFileSync } from 'node:child_process';

function* fields(b: Buffer): Generator<[number, number | Buffer]> {
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const c = b[i++]!;
      v += (c & 0x7f) * mul;
      mul *= 128;
      if (c < 0x80) return v;
    }
  };
  while (i < b.length) {
    const key = varint();
    const wt = key & 7;
    if (wt === 0) yield [key >>> 3, varint()];
    else if (wt === 2) {
      const len = varint();
      yield [key >>> 3, b.subarray(i, i + len)];
      i += len;
    } else if (wt === 1) i += 8;
    else if (wt === 5) i += 4;
    else return; // groups: not in etcd's protocol
  }
}

/** Values of the events of one WatchResponse (not of their prev_kv). */
function watchValues(msg: Buffer): string[] {
  const out: string[] = [];
  for (const [f, ev] of fields(msg))
    if (f === 11 && Buffer.isBuffer(ev))
      for (const [f2, kv] of fields(ev))
        if (f2 === 2 && Buffer.isBuffer(kv)) for (const [f3, v] of fields(kv)) if (f3 === 5 && Buffer.isBuffer(v)) out.push(v.toString());
  return out;
}

export interface WireLatency {
  /** Put request frame -> watch event frame, every event (ms). */
  p50: number;
  p99: number;
  puts: number;
  events: number;
  /** Share of events that came in a response carrying several revisions (etcd catching a slow watcher up). */
  multiShare: number;
  maxPerResponse: number;
}

export function wireLatency(pcapFile: string, etcdPort: number): WireLatency {
  const out = execFileSync(
    'tshark',
    [
      '-r',
      pcapFile,
      '-T',
      'fields',
      '-E',
      'separator=|',
      '-e',
      'frame.time_epoch',
      '-e',
      'tcp.srcport',
      '-e',
      'tcp.dstport',
      '-e',
      'tcp.payload',
    ],
    { maxBuffer: 1 << 30, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const port = String(etcdPort);
  const conn = new Map<string, Buffer>();
  const grpc = new Map<string, Buffer>();
  const putAt = new Map<string, number>();
  const eventAt: [string, number][] = [];
  let multi = 0;
  let maxPerResponse = 0;
  const sendTime = /^\d+\.\d+$/;
  for (const line of out.split('\n')) {
    const [t, src, dst, payload] = line.split('|');
    if (!payload) continue;
    const at = Number(t) * 1000;
    const k = `${src}>${dst}`;
    let b = Buffer.concat([conn.get(k) ?? Buffer.alloc(0), Buffer.from(payload.replace(/:/g, ''), 'hex')]);
    if (dst === port && b.subarray(0, 14).toString() === 'PRI * HTTP/2.0') b = b.subarray(24);
    while (b.length >= 9) {
      const len = b.readUIntBE(0, 3);
      if (b.length < 9 + len) break;
      const type = b[3]!;
      const flags = b[4]!;
      const sid = b.readUInt32BE(5) & 0x7fffffff;
      let data = b.subarray(9, 9 + len);
      b = b.subarray(9 + len);
      if (type !== 0) continue;
      if (flags & 0x8) data = data.subarray(1, data.length - data[0]!);
      const gk = `${k}#${sid}`;
      let g = Buffer.concat([grpc.get(gk) ?? Buffer.alloc(0), data]);
      while (g.length >= 5) {
        const mlen = g.readUInt32BE(1);
        if (g.length < 5 + mlen) break;
        const msg = g.subarray(5, 5 + mlen);
        g = g.subarray(5 + mlen);
        if (src === port) {
          const vals = watchValues(msg);
          if (vals.length > 1) multi += vals.length;
          maxPerResponse = Math.max(maxPerResponse, vals.length);
          for (const v of vals) eventAt.push([v, at]);
        } else {
          // PutRequest: key = 1, value = 2.
          for (const [f, v] of fields(msg))
            if (f === 2 && Buffer.isBuffer(v) && sendTime.test(v.toString()) && !putAt.has(v.toString())) putAt.set(v.toString(), at);
        }
      }
      grpc.set(gk, Buffer.from(g));
    }
    conn.set(k, Buffer.from(b));
  }
  const lat = eventAt.flatMap(([v, at]) => (putAt.has(v) ? [at - putAt.get(v)!] : [])).sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  return {
    p50: q(0.5),
    p99: q(0.99),
    puts: putAt.size,
    events: lat.length,
    multiShare: lat.length ? multi / eventAt.length : NaN,
    maxPerResponse,
  };
}
