/**
 * 100,000 distinct flows into real Open vSwitch in one bundle: wyvern's OfChannel vs
 * `ovs-ofctl -O OpenFlow13 --bundle add-flows` with the same flows, in the same run, on the same switch
 * (flows deleted between runs). Prints both times and the ratio (target ≤ 1.1× ovs-ofctl).
 *
 *   npm run bench:openflow-bundle -- [flows=100000] [rounds=3]      (root; needs openvswitch-switch)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { flowMod, OFPG_ANY, OFPP, type FlowMod, type OfMessage } from '../src/openflow/index.js';
import { OfChannel, type UpEvent } from '../src/openflow/channel/index.js';
import { startOvsHost } from '../src/sandbox/ovs-host.js';

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 3);

/** Flow i: table 0, ip, nw_dst=10.a.b.c, metadata=i%4096 → set eth_dst, output:(i%8)+1. */
function flows(): { mods: FlowMod[]; text: string } {
  const mods: FlowMod[] = [];
  const lines: string[] = [];
  for (let i = 0; i < N; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const meta = i % 4096;
    const mac = `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    const port = (i % 8) + 1;
    mods.push(
      flowMod({
        tableId: 0,
        priority: 100,
        cookie: BigInt(i),
        match: [
          { field: 'metadata', value: BigInt(meta) },
          { field: 'eth_type', value: 0x0800 },
          { field: 'ipv4_dst', value: ip },
        ],
        instructions: [
          {
            type: 'apply_actions',
            actions: [
              { type: 'set_field', field: 'eth_dst', value: mac },
              { type: 'output', port, maxLen: 0 },
            ],
          },
        ],
      }),
    );
    lines.push(`table=0,priority=100,cookie=${i},metadata=${meta},ip,nw_dst=${ip},actions=set_field:${mac}->eth_dst,output:${port}`);
  }
  return { mods, text: lines.join('\n') + '\n' };
}

function runTimed(cmd: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${cmd.join(' ')} exited ${code}: ${err}`));
      else resolve(ms);
    });
  });
}

async function flowCount(ch: OfChannel): Promise<number> {
  const [r] = await ch.multipart({
    type: 'MULTIPART_REQUEST',
    xid: 0,
    flags: 0,
    body: { kind: 'aggregate', tableId: 0xff, outPort: OFPP.ANY, outGroup: OFPG_ANY, cookie: 0n, cookieMask: 0n, match: [] },
  });
  if (r?.type !== 'MULTIPART_REPLY' || r.body.kind !== 'aggregate') throw new Error('bad aggregate reply');
  return r.body.flowCount;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench needs root (network namespace + OVS)');
  const host = await startOvsHost({ name: `ofb${randomBytes(3).toString('hex')}` });
  const ch = new OfChannel({ endpoint: `unix:${host.mgmtSock()}`, requestTimeoutMs: 60_000 });
  const errors: OfMessage[] = [];
  ch.on('message', (m: OfMessage) => m.type === 'ERROR' && errors.push(m));
  try {
    const up = new Promise<UpEvent>((resolve) => ch.once('up', resolve));
    ch.start();
    await up;
    const { mods, text } = flows();
    const file = join(host.runDir, 'flows.txt');
    await writeFile(file, text);
    const ofctlMs: number[] = [];
    const wyvernMs: number[] = [];
    const clear = async () => {
      await host.ofctl(['-O', 'OpenFlow13', 'del-flows', host.mgmtSock()]);
      if ((await flowCount(ch)) !== 0) throw new Error('flows left after del-flows');
    };
    /** The installed table as ovs-ofctl prints it, minus counters: both runs must install the same flows. */
    const snapshot = async () =>
      (await host.ofctl(['-O', 'OpenFlow13', 'dump-flows', host.mgmtSock()]))
        .split('\n')
        .filter((l) => l.includes('cookie='))
        .map((l) => l.replace(/ duration=[^,]+,| n_packets=\d+,| n_bytes=\d+,/g, '').trim())
        .sort();
    let reference: string[] | undefined;
    for (let r = 0; r < ROUNDS; r++) {
      await clear();
      ofctlMs.push(await runTimed(['ovs-ofctl', '-O', 'OpenFlow13', '--bundle', 'add-flows', host.mgmtSock(), file]));
      if ((await flowCount(ch)) !== N) throw new Error('ovs-ofctl did not install every flow');
      if (r === 0) reference = await snapshot();
      await clear();
      const t0 = process.hrtime.bigint();
      await ch.bundle(mods);
      wyvernMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if ((await flowCount(ch)) !== N) throw new Error('OfChannel did not install every flow');
      if (r === 0) {
        const mine = await snapshot();
        const diff = mine.findIndex((l, i) => l !== reference![i]);
        if (diff >= 0 || mine.length !== reference!.length) {
          throw new Error(`flow tables differ: ovs-ofctl "${reference![diff]}" vs wyvern "${mine[diff]}"`);
        }
      }
    }
    if (errors.length)
      throw new Error(`switch sent ${errors.length} ERROR(s): ${errors.map((e) => (e.type === 'ERROR' ? e.codeName : '')).join(', ')}`);
    const o = median(ofctlMs);
    const w = median(wyvernMs);
    console.log(
      `bundle of ${N} flows into OVS (median of ${ROUNDS}; runs: ofctl ${ofctlMs.map((x) => x.toFixed(0)).join('/')} ms, wyvern ${wyvernMs.map((x) => x.toFixed(0)).join('/')} ms)`,
    );
    console.log(`  ovs-ofctl --bundle add-flows : ${o.toFixed(0)} ms (${((N / o) * 1000).toFixed(0)} flows/s)`);
    console.log(`  wyvern OfChannel.bundle()    : ${w.toFixed(0)} ms (${((N / w) * 1000).toFixed(0)} flows/s)`);
    console.log(`  installed tables identical (ovs-ofctl dump-flows, counters aside): yes`);
    console.log(`  ratio wyvern / ovs-ofctl     : ${(w / o).toFixed(2)}× (target ≤ 1.10×)`);
  } finally {
    await ch.stop();
    await host.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
