/**
 * OpenFlow codec throughput on one core: FLOW_MOD encode and PACKET_IN decode, beside @xen-orchestra/openflow
 * (OpenFlow 1.1, the only other JS codec on npm) and the os-ken (Ryu) Python codec when installed.
 * Run: npm run bench:openflow   (prints results; not a timed test)
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { decodeMessage, encodeMessage, encodeMessages, flowMod, type FlowMod, type OfMessage } from '../src/openflow/index.js';

const require = createRequire(import.meta.url);

const fmt = (r: number): string => Math.round(r).toLocaleString('en-US').padStart(12);

/**
 * Operations per second of this thread's CPU time (process.cpuUsage), so other load on the machine counts less;
 * wall-clock rate printed beside it. Best of three rounds (the machine is shared). Single-threaded: one core.
 */
function rate(label: string, fn: () => unknown, warmup = 50_000, ms = 600): number {
  for (let i = 0; i < warmup; i++) fn(); // warm up the JIT
  let best = 0,
    bestWall = 0;
  for (let round = 0; round < 3; round++) {
    let n = 0;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let t = t0;
    while (t - t0 < ms) {
      for (let i = 0; i < 100; i++) fn();
      n += 100;
      t = performance.now();
    }
    const c = process.cpuUsage(c0);
    const r = (n * 1e6) / (c.user + c.system);
    if (r > best) {
      best = r;
      bestWall = (n * 1000) / (t - t0);
    }
  }
  console.log(`${label.padEnd(46)} ${fmt(best)} /s CPU  (${fmt(bestWall)} /s wall)`);
  return best;
}

const buildFlowMod = (): FlowMod =>
  flowMod({
    xid: 1,
    cookie: 0x1234n,
    tableId: 10,
    priority: 100,
    match: [
      { field: 'in_port', value: 3 },
      { field: 'eth_type', value: 0x0800 },
      { field: 'ipv4_dst', value: '10.0.0.0', mask: '255.255.255.0' },
      { field: 'metadata', value: 7n },
    ],
    instructions: [
      {
        type: 'apply_actions',
        actions: [
          { type: 'set_field', field: 'eth_dst', value: '02:00:00:00:00:01' },
          { type: 'output', port: 5 },
        ],
      },
      { type: 'goto_table', tableId: 20 },
    ],
  });
const fm = buildFlowMod();
const fmBytes = encodeMessage(fm);

const pin: OfMessage = {
  type: 'PACKET_IN',
  xid: 2,
  bufferId: 0xffffffff,
  totalLen: 60,
  reason: 0,
  tableId: 20,
  cookie: 0n,
  match: [
    { field: 'in_port', value: 3 },
    { field: 'metadata', value: 7n },
  ],
  data: Buffer.alloc(60, 0xab),
};
const pinBytes = encodeMessage(pin);

console.log(
  `wyvern FLOW_MOD ${fmBytes.length} bytes, PACKET_IN ${pinBytes.length} bytes (node ${process.version}, ` +
    `load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')})`,
);
const enc = rate('wyvern FLOW_MOD encode (prebuilt object)', () => encodeMessage(fm));
const batch = Array.from({ length: 1000 }, (_, i) => ({ ...fm, xid: i }));
const encBatch = 1000 * rate('wyvern encodeMessages (1000 FLOW_MODs per call)', () => encodeMessages(batch), 100);
console.log(`${'  = FLOW_MOD encodes'.padEnd(46)} ${fmt(encBatch)} /s CPU`);
const buildEnc = rate('wyvern FLOW_MOD build + encode', () => encodeMessage(buildFlowMod()));
const dec = rate('wyvern PACKET_IN decode', () => decodeMessage(pinBytes));
const decFm = rate('wyvern FLOW_MOD decode', () => decodeMessage(fmBytes));

// @xen-orchestra/openflow: OpenFlow 1.1 with a fixed ofp_match; it packs only the output action and the
// apply/write/clear instructions, and unpacks no PACKET_IN — so its FLOW_MOD (match in_port, dl_type, nw_dst/24,
// metadata; apply output) stands in for both directions.
const xen = require('@xen-orchestra/openflow').default as {
  pack(o: unknown): Buffer;
  unpack(b: Buffer): unknown;
  protocols: Record<
    number,
    {
      type: Record<string, number>;
      instructionType: Record<string, number>;
      actionType: Record<string, number>;
      flowModCommand: Record<string, number>;
      matchType: Record<string, number>;
    }
  >;
  versions: Record<string, number>;
};
const v = xen.versions.openFlow11!;
const p = xen.protocols[v]!;
const xenFlowMod = (): unknown => ({
  header: { version: v, type: p.type.flowMod, xid: 1 },
  cookie: Buffer.from('0000000000001234', 'hex'),
  cookie_mask: Buffer.alloc(8),
  table_id: 10,
  command: p.flowModCommand.add,
  priority: 100,
  match: {
    type: p.matchType.standard,
    in_port: 3,
    dl_type: 0x0800,
    nw_dst: '10.0.0.0',
    nw_dst_mask: '0.0.0.255',
    metadata: Buffer.from('0000000000000007', 'hex'),
  },
  instructions: [{ type: p.instructionType.applyActions, actions: [{ type: p.actionType.output, port: 5, max_len: 0 }] }],
});
const xenBytes = xen.pack(xenFlowMod());
const xenEnc = rate('xen-orchestra OF1.1 FLOW_MOD build + pack', () => xen.pack(xenFlowMod()));
const xenDec = rate('xen-orchestra OF1.1 FLOW_MOD unpack', () => xen.unpack(xenBytes));

console.log('');
console.log(
  `encode: wyvern ${Math.round(enc).toLocaleString('en-US')}/s one per call, ${Math.round(encBatch).toLocaleString('en-US')}/s batched ` +
    `(target ≥ 2,000,000); build+encode = ${(buildEnc / xenEnc).toFixed(1)}× xen-orchestra build+pack`,
);
console.log(
  `decode: wyvern PACKET_IN ${Math.round(dec).toLocaleString('en-US')}/s (target ≥ 3,000,000); FLOW_MOD decode = ${(decFm / xenDec).toFixed(1)}× xen-orchestra FLOW_MOD unpack`,
);

const anchor = '/work/shared/anchors/osken/codec.py';
if (existsSync(anchor)) {
  try {
    const out = execFileSync('/usr/bin/python3', [anchor], { encoding: 'utf8', timeout: 120_000 });
    const osEnc = Number(/flowmod_encode_per_s (\d+)/.exec(out)?.[1]);
    const osDec = Number(/packetin_decode_per_s (\d+)/.exec(out)?.[1]);
    console.log(
      `os-ken (Python): FLOW_MOD build+encode ${osEnc.toLocaleString('en-US')}/s, PACKET_IN decode ${osDec.toLocaleString('en-US')}/s` +
        ` → wyvern ${(buildEnc / osEnc).toFixed(0)}× / ${(dec / osDec).toFixed(0)}×`,
    );
    // The issue measured os-ken at ~19,000 encodes/s and ~131,000 decodes/s on this machine when idle; when other
    // work shares the cores, scaling by os-ken's slowdown estimates what an idle run would show.
    const f = Math.min(19_000 / osEnc, 131_000 / osDec);
    if (f > 1.15) {
      console.log(
        `machine busy (os-ken at 1/${f.toFixed(1)} of its reference speed): idle estimate ` +
          `encode ≈ ${Math.round(enc * f).toLocaleString('en-US')}/s, PACKET_IN decode ≈ ${Math.round(dec * f).toLocaleString('en-US')}/s`,
      );
    }
  } catch (e) {
    console.log(`os-ken anchor failed: ${(e as Error).message}`);
  }
}
