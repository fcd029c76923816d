/**
 * npm run bench:ovsdb — the OVSDB client beside ovs-vsctl, same machine, same run.
 *  1. 1,000 port inserts (Interface + Port + Bridge.ports mutate) in one transaction and in
 *     1,000 transactions (sequential, and pipelined), against ovs-vsctl doing the same
 *     (one invocation with 1,000 `-- add-port`, and 1,000 invocations). Each case runs on a
 *     fresh ovsdb-server (ovs-vsctl reads the whole database per call, so size matters).
 *  2. Latency from spawning `ovs-vsctl add-port` to the monitor's rowAdded event (bare
 *     ovsdb-server), and to VifWatcher 'plugged' with an ofport (ovsdb-server + ovs-vswitchd).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { OvsdbClient } from '../src/ovsdb/client.js';
import { NamedUuid, type Uuid } from '../src/ovsdb/datum.js';
import type { Operation } from '../src/ovsdb/operations.js';
import { startOvsdbServer, type OvsdbTestServer } from '../test/helpers/ovsdb-server.js';
import { ensureBridge, VifWatcher, type Vif } from '../src/ovsdb/vswitch.js';
import { startOvsHost } from '../src/sandbox/ovs-host.js';

const run = promisify(execFile);
const N = Number(process.env.N ?? 1000);
const SAMPLES = Number(process.env.SAMPLES ?? 200);

async function withServer<T>(f: (s: OvsdbTestServer, c: OvsdbClient) => Promise<T>): Promise<T> {
  const s = await startOvsdbServer({ prefix: 'wyvern-bench-ovsdb-' });
  const c = await OvsdbClient.connect(s.endpoint, { reconnect: false });
  try {
    await run('ovs-vsctl', [`--db=${s.endpoint}`, '--no-wait', 'init']);
    await ensureBridge(c, { name: 'br0', datapathType: 'netdev' });
    return await f(s, c);
  } finally {
    await c.close();
    await s.destroy();
  }
}

async function bridgeUuid(c: OvsdbClient): Promise<Uuid> {
  const [r] = await c.transact('Open_vSwitch', [{ op: 'select', table: 'Bridge', where: [['name', '==', 'br0']], columns: ['_uuid'] }]);
  return r!.rows![0]!._uuid as Uuid;
}

function portOps(br: Uuid, names: string[]): Operation[] {
  const ops: Operation[] = [];
  const ports: NamedUuid[] = [];
  names.forEach((n, i) => {
    ops.push({ op: 'insert', table: 'Interface', row: { name: n }, uuidName: `i${i}` });
    ops.push({ op: 'insert', table: 'Port', row: { name: n, interfaces: [new NamedUuid(`i${i}`)] }, uuidName: `p${i}` });
    ports.push(new NamedUuid(`p${i}`));
  });
  ops.push({ op: 'mutate', table: 'Bridge', where: [['_uuid', '==', br]], mutations: [['ports', 'insert', ports]] });
  return ops;
}

async function countPorts(s: OvsdbTestServer): Promise<number> {
  const { stdout } = await run('ovs-vsctl', [`--db=${s.endpoint}`, 'list-ports', 'br0'], { maxBuffer: 64 << 20 });
  return stdout.trim().split('\n').filter(Boolean).length;
}

async function timed(label: string, f: (s: OvsdbTestServer, c: OvsdbClient) => Promise<void>): Promise<number> {
  return withServer(async (s, c) => {
    const t0 = performance.now();
    await f(s, c);
    const ms = performance.now() - t0;
    const n = await countPorts(s);
    if (n !== N) throw new Error(`${label}: expected ${N} ports, found ${n}`);
    return ms;
  });
}

const names = Array.from({ length: N }, (_, i) => `p${i}`);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function main(): Promise<void> {
  console.log(`# OVSDB benchmark (N=${N}), ovsdb-server ${(await run('ovsdb-server', ['--version'])).stdout.split('\n')[0]}`);
  const oneTxn = await timed('client 1 txn', async (_s, c) => {
    await c.transact('Open_vSwitch', portOps(await bridgeUuid(c), names));
  });
  const seqTxn = await timed('client N txns', async (_s, c) => {
    const br = await bridgeUuid(c);
    for (const n of names) await c.transact('Open_vSwitch', portOps(br, [n]));
  });
  const pipeTxn = await timed('client N txns pipelined', async (_s, c) => {
    const br = await bridgeUuid(c);
    await Promise.all(names.map((n) => c.transact('Open_vSwitch', portOps(br, [n]))));
  });
  const vsOne = await timed('vsctl 1 call', async (s) => {
    const args = [`--db=${s.endpoint}`, '--no-wait'];
    names.forEach((n, i) => args.push(...(i ? ['--'] : []), 'add-port', 'br0', n));
    await run('ovs-vsctl', args, { maxBuffer: 64 << 20 });
  });
  const vsMany = await timed('vsctl N calls', async (s) => {
    for (const n of names) await run('ovs-vsctl', [`--db=${s.endpoint}`, '--no-wait', 'add-port', 'br0', n]);
  });
  const row = (what: string, ms: number, ref: number) =>
    console.log(
      `${what.padEnd(44)} ${ms.toFixed(1).padStart(9)} ms  ${(N / (ms / 1000)).toFixed(0).padStart(8)} ports/s  ovs-vsctl/client = ${(ref / ms).toFixed(1)}x`,
    );
  console.log(`\n## ${N} port inserts (Interface+Port+Bridge.ports)`);
  row('client: one transaction', oneTxn, vsOne);
  row('client: N transactions, one at a time', seqTxn, vsMany);
  row('client: N transactions, pipelined', pipeTxn, vsMany);
  row('ovs-vsctl: one call with N add-port', vsOne, vsOne);
  row('ovs-vsctl: N calls', vsMany, vsMany);

  console.log(`\n## latency: spawn of ovs-vsctl add-port -> client event (${SAMPLES} samples)`);
  await withServer(async (s, c) => {
    const m = await c.monitor('Open_vSwitch', { Interface: ['name'] });
    const lat: number[] = [];
    const vsctlMs: number[] = [];
    const afterExit: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const name = `lat${i}`;
      const seen = new Promise<number>((resolve) => {
        const f = (t: string, _u: string, r: { name: unknown }) => {
          if (t === 'Interface' && r.name === name) {
            m.off('rowAdded', f);
            resolve(performance.now());
          }
        };
        m.on('rowAdded', f);
      });
      const t0 = performance.now();
      await run('ovs-vsctl', [`--db=${s.endpoint}`, '--no-wait', 'add-port', 'br0', name]);
      const exit = performance.now();
      vsctlMs.push(exit - t0);
      const at = await seen;
      lat.push(at - t0);
      afterExit.push(at - exit);
    }
    console.log(`monitor rowAdded (ovsdb-server only):  p50 ${pct(lat, 50).toFixed(2)} ms  p99 ${pct(lat, 99).toFixed(2)} ms`);
    console.log(
      `  of which the ovs-vsctl process itself: p50 ${pct(vsctlMs, 50).toFixed(2)} ms; event minus vsctl exit: p50 ${pct(afterExit, 50).toFixed(2)} ms p99 ${pct(afterExit, 99).toFixed(2)} ms (negative = before exit)`,
    );
    // The same with the writer being another client (no process start-up in the way).
    const w = await OvsdbClient.connect(s.endpoint, { reconnect: false });
    const br = await bridgeUuid(w);
    const direct: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const name = `direct${i}`;
      const seen = new Promise<number>((resolve) => {
        const f = (t: string, _u: string, r: { name: unknown }) => {
          if (t === 'Interface' && r.name === name) {
            m.off('rowAdded', f);
            resolve(performance.now());
          }
        };
        m.on('rowAdded', f);
      });
      const t0 = performance.now();
      await w.transact('Open_vSwitch', portOps(br, [name]));
      direct.push((await seen) - t0);
    }
    await w.close();
    console.log(`client transact -> other client's rowAdded: p50 ${pct(direct, 50).toFixed(2)} ms  p99 ${pct(direct, 99).toFixed(2)} ms`);
    await m.close();
  });

  const host = await startOvsHost({ name: `wvb${process.pid.toString(36).slice(-4)}`, createBridge: true });
  try {
    const c = await OvsdbClient.connect(`unix:${host.dbSock}`, { reconnect: false });
    const w = await VifWatcher.create(c);
    w.start();
    const lat: number[] = [];
    const samples = Math.min(SAMPLES, 100);
    for (let i = 0; i < samples; i++) {
      const name = `vif${i}`;
      const seen = new Promise<number>((resolve) => {
        const f = (v: Vif) => {
          if (v.name === name) {
            w.off('plugged', f);
            resolve(performance.now());
          }
        };
        w.on('plugged', f);
      });
      const t0 = performance.now();
      await host.vsctl(['--no-wait', 'add-port', 'br-int', name, '--', 'set', 'Interface', name, 'type=internal']);
      lat.push((await seen) - t0);
    }
    console.log(
      `VifWatcher plugged with ofport (vswitchd): p50 ${pct(lat, 50).toFixed(2)} ms  p99 ${pct(lat, 99).toFixed(2)} ms  (${samples} samples)`,
    );
    w.stop();
    await w.db.close();
    await c.close();
  } finally {
    await host.destroy();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
