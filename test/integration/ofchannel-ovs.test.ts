/**
 * The channel against real Open vSwitch (userspace datapath, own network namespace): bundles read back with
 * multipart flow stats and compared with ovs-ofctl, PACKET_OUT → PACKET_IN, named ERRORs tied to their request
 * (alone and inside a bundle), and reconnection with a new session after ovs-vswitchd restarts.
 * Needs root and openvswitch-switch: fails loudly without them.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  flowMod,
  flowStatsRequest,
  formatFlow,
  OFPP,
  OfpErrorMessage,
  OfpEncodeError,
  packetOut,
  type FlowMod,
  type FlowStats,
  type Match,
  type OfMessage,
} from '../../src/openflow/index.js';
import { OfBundleError, OfChannel, type UpEvent } from '../../src/openflow/channel/index.js';
import { startOvsHost, type OvsHost } from '../../src/sandbox/ovs-host.js';

const name = `ofch${randomBytes(3).toString('hex')}`;
let host: OvsHost;
let ch: OfChannel;
const ups: UpEvent[] = [];
const downs: string[] = [];
const unsolicited: OfMessage[] = [];

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('integration test needs root (network namespaces, OVS)');
  host = await startOvsHost({ name });
  ch = new OfChannel({ endpoint: `unix:${host.mgmtSock()}`, reconnect: { minMs: 50, maxMs: 500 }, requestTimeoutMs: 5_000 });
  ch.on('up', (e: UpEvent) => ups.push(e));
  ch.on('down', (r: string) => downs.push(r));
  ch.on('message', (m: OfMessage) => unsolicited.push(m));
  const up = waitFor<UpEvent>(ch, 'up');
  ch.start();
  await up;
});

afterAll(async () => {
  await ch?.stop();
  await host?.destroy();
});

afterEach(() => {
  // Any ERROR from the switch that no test expected fails the run.
  const errors = unsolicited.filter((m) => m.type === 'ERROR');
  unsolicited.length = 0;
  expect(errors).toEqual([]);
});

function waitFor<T>(em: OfChannel, event: string, timeoutMs = 20_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    em.once(event, (v: T) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

const sortMatch = (m: Match) => [...m].sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));

/** A three-table pipeline (classifier → l2 → output) with one flow per cookie, so flows map back to requests. */
function pipeline(): FlowMod[] {
  const f: FlowMod[] = [];
  let cookie = 0x1000n;
  const add = (p: Parameters<typeof flowMod>[0]) => f.push(flowMod({ cookie: cookie++, ...p }));
  add({ tableId: 0, priority: 0, instructions: [] });
  for (let port = 1; port <= 4; port++) {
    add({
      tableId: 0,
      priority: 100,
      match: [{ field: 'in_port', value: port }],
      instructions: [
        { type: 'apply_actions', actions: [{ type: 'set_field', field: 'reg6', value: port }] },
        { type: 'write_metadata', metadata: BigInt(port * 16), mask: 0xffffn },
        { type: 'goto_table', tableId: 1 },
      ],
    });
  }
  add({ tableId: 1, priority: 0, instructions: [] });
  for (let i = 0; i < 8; i++) {
    add({
      tableId: 1,
      priority: 200,
      match: [
        { field: 'metadata', value: 16n, mask: 0xffffn },
        { field: 'eth_dst', value: `02:00:00:00:00:0${i}` },
      ],
      instructions: [
        { type: 'apply_actions', actions: [{ type: 'set_field', field: 'reg7', value: 100 + i }] },
        { type: 'goto_table', tableId: 2 },
      ],
    });
  }
  add({
    tableId: 1,
    priority: 300,
    match: [
      { field: 'eth_type', value: 0x0800 },
      { field: 'ipv4_dst', value: '10.1.2.0', mask: '255.255.255.0' },
    ],
    instructions: [{ type: 'apply_actions', actions: [{ type: 'dec_nw_ttl' }, { type: 'output', port: 3, maxLen: 0 }] }],
  });
  add({ tableId: 2, priority: 10, instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 2, maxLen: 0 }] }] });
  return f;
}

/** ovs-ofctl's view: one entry per flow with table, priority and cookie (its own parser, independent of ours). */
async function ofctlFlows(): Promise<Array<{ table: number; priority: number; cookie: bigint; line: string }>> {
  const out = await host.ofctl(['-O', 'OpenFlow13', 'dump-flows', host.mgmtSock()]);
  return out
    .split('\n')
    .filter((l) => l.includes('cookie='))
    .map((line) => {
      const table = Number(/table=(\d+)/.exec(line)?.[1] ?? 0);
      const priority = Number(/priority=(\d+)/.exec(line)?.[1] ?? 32768);
      const cookie = BigInt(/cookie=(0x[0-9a-f]+)/.exec(line)![1]!);
      return { table, priority, cookie, line: line.trim() };
    });
}

const withoutStats = (line: string) => line.replace(/ duration=[^,]+,| n_packets=\d+,| n_bytes=\d+,/g, '').trim();

const key = (t: number, p: number, c: bigint) => `${t}/${p}/${c.toString(16)}`;

describe('OfChannel against real OVS', () => {
  it('installs a multi-table pipeline in one bundle and reads it back exactly (flow stats vs ovs-ofctl)', async () => {
    const sent = pipeline();
    await ch.bundle(sent);
    const flows = await ch.dumpFlows();
    expect(flows).toHaveLength(sent.length);
    const byCookie = new Map<bigint, FlowStats>(flows.map((f) => [f.cookie, f]));
    for (const s of sent) {
      const got = byCookie.get(s.cookie);
      expect(got, `flow cookie ${s.cookie}`).toBeDefined();
      expect(got!.tableId).toBe(s.tableId);
      expect(got!.priority).toBe(s.priority);
      expect(sortMatch(got!.match)).toEqual(sortMatch(s.match));
      expect(got!.instructions).toEqual(s.instructions);
    }
    const ofctl = await ofctlFlows();
    expect(ofctl.map((f) => key(f.table, f.priority, f.cookie)).sort()).toEqual(
      flows.map((f) => key(f.tableId, f.priority, f.cookie)).sort(),
    );
    // Text for text: our decode of the flow-stats replies, printed, is exactly what ovs-ofctl prints.
    expect(flows.map((f) => formatFlow(f)).sort()).toEqual(ofctl.map((f) => withoutStats(f.line)).sort());
    // Spot-check ovs-ofctl's reading of what we encoded.
    const l3 = ofctl.find((f) => f.priority === 300)!.line;
    expect(l3).toContain('nw_dst=10.1.2.0/24');
    expect(l3).toContain('actions=dec_ttl,output:3');
    expect(ofctl.find((f) => f.table === 0 && f.priority === 100)!.line).toMatch(
      /actions=set_field:0x\d->reg6,write_metadata:0x\d+\/0xffff,goto_table:1/,
    );
    // Filtered multipart: one table, cookie under a mask.
    expect((await ch.dumpFlows({ tableId: 1 })).length).toBe(10);
    expect((await ch.dumpFlows({ cookie: 0x1000n, cookieMask: 0xffffn })).map((f) => f.priority)).toEqual([0]);
  });

  it('PACKET_OUT into a flow that sends to CONTROLLER comes back as a decoded PACKET_IN', async () => {
    await ch.bundle([
      flowMod({
        tableId: 0,
        priority: 500,
        cookie: 0xc0ffeen,
        match: [
          { field: 'in_port', value: OFPP.CONTROLLER },
          { field: 'eth_type', value: 0x88b5 },
        ],
        instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 'controller', maxLen: 0xffff }] }],
      }),
    ]);
    const frame = Buffer.alloc(60);
    Buffer.from('ffffffffffff0200000000aa88b5', 'hex').copy(frame);
    frame.write('wyvern packet-out probe', 14);
    const pin = new Promise<OfMessage>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no PACKET_IN within 10 s')), 10_000);
      const on = (m: OfMessage) => {
        if (m.type === 'PACKET_IN') {
          clearTimeout(t);
          ch.off('message', on);
          resolve(m);
        }
      };
      ch.on('message', on);
    });
    await ch.send(packetOut({ inPort: 'controller', actions: [{ type: 'output', port: 'table' }], data: frame }));
    const m = await pin;
    unsolicited.length = 0;
    if (m.type !== 'PACKET_IN') throw new Error('unreachable');
    expect(m.data.equals(frame)).toBe(true);
    expect(m.cookie).toBe(0xc0ffeen);
    expect(m.tableId).toBe(0);
    expect(m.reason).toBe(1); // OFPR_ACTION
    expect(m.match.find((f) => f.field === 'in_port')).toMatchObject({ value: OFPP.CONTROLLER });
  });

  it('a bad FLOW_MOD comes back as a named ERROR tied to its request', async () => {
    const err = await ch
      .request(flowMod({ tableId: 0, priority: 7, instructions: [{ type: 'goto_table', tableId: 0 }] }), { timeoutMs: 5_000 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OfpErrorMessage);
    const e = (err as OfpErrorMessage).error;
    expect(e.errTypeName).toBe('OFPET_BAD_INSTRUCTION');
    expect(e.codeName).toBe('OFPBIC_BAD_TABLE_ID');
    const err2 = (await ch.request(flowMod({ tableId: 255, priority: 7 })).catch((x: unknown) => x)) as OfpErrorMessage;
    expect(err2).toBeInstanceOf(OfpErrorMessage);
    expect(err2.error.codeName).toBe('OFPFMFC_BAD_TABLE_ID');
  });

  it('a bad message inside a bundle is named by index, the bundle is discarded, the switch unchanged', async () => {
    const before = (await ofctlFlows()).map((f) => f.line.replace(/duration=[^,]+, /, '')).sort();
    const msgs = [0, 1, 2, 3].map((i) =>
      flowMod({
        tableId: 3,
        priority: 10 + i,
        cookie: 0xbad0n + BigInt(i),
        match: [{ field: 'reg5', value: i }],
        instructions: [{ type: 'goto_table', tableId: i === 2 ? 1 : 4 }],
      }),
    );
    const err = (await ch.bundle(msgs).catch((e: unknown) => e)) as OfBundleError;
    expect(err).toBeInstanceOf(OfBundleError);
    expect(err.index).toBe(2);
    expect(err.error.codeName).toBe('OFPBIC_BAD_TABLE_ID');
    expect(err.message).toContain('message #2');
    const after = (await ofctlFlows()).map((f) => f.line.replace(/duration=[^,]+, /, '')).sort();
    expect(after.map((l) => l.replace(/n_packets=\d+, n_bytes=\d+, /, ''))).toEqual(
      before.map((l) => l.replace(/n_packets=\d+, n_bytes=\d+, /, '')),
    );
    // The same bundle without the bad message commits.
    await ch.bundle(msgs.filter((_, i) => i !== 2));
    expect((await ch.dumpFlows({ tableId: 3 })).length).toBe(3);
  });

  it('pipelineCommit: one round trip; a refused add is named and the rest is committed (and says so)', async () => {
    const msgs = [0, 1, 2, 3].map((i) =>
      flowMod({
        tableId: 7,
        priority: 10 + i,
        cookie: 0x7a0n + BigInt(i),
        match: [{ field: 'reg5', value: i }],
        instructions: [{ type: 'goto_table', tableId: i === 2 ? 1 : 8 }],
      }),
    );
    const err = (await ch.bundle(msgs, { pipelineCommit: true }).catch((e: unknown) => e)) as OfBundleError;
    expect(err).toBeInstanceOf(OfBundleError);
    expect(err.index).toBe(2);
    expect(err.committed).toBe(true);
    expect(err.error.codeName).toBe('OFPBIC_BAD_TABLE_ID');
    expect(err.message).toContain('the rest was committed');
    expect((await ch.dumpFlows({ tableId: 7 })).map((f) => f.priority).sort()).toEqual([10, 11, 13]);
    // A clean one commits everything.
    await ch.bundle([flowMod({ tableId: 7, priority: 20, match: [{ field: 'reg5', value: 9 }], instructions: [] })], {
      pipelineCommit: true,
    });
    expect((await ch.dumpFlows({ tableId: 7 })).length).toBe(4);
    // A failure found only when applying (check_overlap against an installed flow) commits nothing.
    const fail = (await ch
      .bundle(
        [
          flowMod({ tableId: 7, priority: 30, match: [{ field: 'reg5', value: 30 }], instructions: [] }),
          flowMod({ tableId: 7, priority: 20, flags: 2 /* check_overlap */, match: [{ field: 'reg6', value: 1 }], instructions: [] }),
        ],
        { pipelineCommit: true },
      )
      .catch((e: unknown) => e)) as OfBundleError;
    expect(fail).toBeInstanceOf(OfBundleError);
    expect(fail.committed).toBe(false);
    expect(fail.index).toBe(1);
    expect(fail.error.codeName).toBe('OFPFMFC_OVERLAP');
    expect((await ch.dumpFlows({ tableId: 7 })).length).toBe(4);
  });

  it('a message the codec cannot encode fails the bundle before any change, and the channel stays usable', async () => {
    const before = (await ch.dumpFlows({ tableId: 6 })).length;
    const msgs = [0, 1, 2].map((i) =>
      flowMod({ tableId: 6, priority: 10 + i, match: [{ field: i === 1 ? 'no_such_field' : 'reg5', value: i }], instructions: [] }),
    );
    const err = await ch.bundle(msgs).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OfpEncodeError);
    expect((await ch.dumpFlows({ tableId: 6 })).length).toBe(before);
    await ch.bundle(msgs.filter((_, i) => i !== 1));
    expect((await ch.dumpFlows({ tableId: 6 })).length).toBe(before + 2);
  });

  it('pipelines 20,000 FLOW_MODs with back-pressure and reads them back through multi-part replies', async () => {
    const n = 20_000;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      sends.push(
        ch.send(
          flowMod({
            tableId: 5,
            priority: 1000,
            cookie: 0x500000n + BigInt(i),
            match: [
              { field: 'eth_type', value: 0x0800 },
              { field: 'ipv4_src', value: `10.9.${i >> 8}.${i & 255}` },
            ],
            instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 1 + (i % 4), maxLen: 0 }] }],
          }),
        ),
      );
    }
    await Promise.all(sends);
    await ch.barrier();
    const flows = await ch.dumpFlows({ tableId: 5 });
    expect(flows).toHaveLength(n);
    expect(new Set(flows.map((f) => f.cookie)).size).toBe(n);
    const parts = await ch.multipart(flowStatsRequest({ tableId: 5 }));
    expect(parts.length).toBeGreaterThan(1); // OVS splits at 64 KiB: reassembly was exercised
    expect(parts.slice(0, -1).every((p) => p.type === 'MULTIPART_REPLY' && (p.flags & 1) === 1)).toBe(true);
    const ofctl = (await ofctlFlows()).filter((f) => f.table === 5);
    expect(ofctl).toHaveLength(n);
    await ch.sendChecked(flowMod({ tableId: 5, command: 'delete', cookie: 0x500000n, cookieMask: 0xff0000n }));
    expect(await ch.dumpFlows({ tableId: 5 })).toHaveLength(0);
  });

  it('restarting ovs-vswitchd makes the channel reconnect and announce a new session', async () => {
    expect(ch.sessionCount).toBe(1);
    const down = waitFor<string>(ch, 'down');
    const up = waitFor<UpEvent>(ch, 'up', 60_000);
    await host.stop();
    expect(await down).toBeTruthy();
    await host.start();
    const e = await up;
    expect(e.session).toBe(2);
    expect(ch.sessionCount).toBe(2);
    expect(ch.isUp).toBe(true);
    // A killed ovs-vswitchd forgets its flows; what matters here is that the new session answers.
    await ch.barrier();
    expect(ups.map((u) => u.session)).toEqual([1, 2]);
  });

  it('echo keepalive: a frozen ovs-vswitchd is declared dead, and the channel comes back when it thaws', async () => {
    const ch2 = new OfChannel({
      endpoint: `unix:${host.mgmtSock()}`,
      echoIntervalMs: 200,
      echoTimeoutMs: 1_000,
      requestTimeoutMs: 2_000,
      reconnect: { minMs: 100, maxMs: 400 },
    });
    const { vswitchd } = await host.pids();
    if (vswitchd === undefined) throw new Error('ovs-vswitchd is not running');
    let frozen = false;
    try {
      const up1 = waitFor<UpEvent>(ch2, 'up');
      ch2.start();
      await up1;
      await new Promise((r) => setTimeout(r, 1_500)); // several echo rounds answered: still up
      expect(ch2.isUp).toBe(true);
      const down = waitFor<string>(ch2, 'down', 10_000);
      process.kill(vswitchd, 'SIGSTOP');
      frozen = true;
      expect(await down).toMatch(/peer dead/);
      const up2 = waitFor<UpEvent>(ch2, 'up', 30_000);
      process.kill(vswitchd, 'SIGCONT');
      frozen = false;
      expect((await up2).session).toBe(2);
      await ch2.barrier();
    } finally {
      if (frozen) process.kill(vswitchd, 'SIGCONT');
      await ch2.stop();
    }
  });
});
