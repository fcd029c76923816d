/**
 * Full TLS proof against real Open vSwitch: ovs-vswitchd (in its namespace) is told
 * `set-ssl KEY CERT CA` + `set-controller br-int ssl:127.0.0.1:PORT` and connects to an OfListener that
 * verifies its CA-signed certificate (and presents ours). The listener must live in the switch's namespace to
 * reach its loopback, so it runs in a child Node process there (`ip netns exec`), reporting JSON lines.
 * Certificates come from the test PKI (test/helpers/pki.ts). Needs root, openvswitch-switch and openssl: fails
 * loudly without them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startOvsHost, type OvsHost } from '../../src/sandbox/ovs-host.js';
import { makePki, type Pki } from '../helpers/pki.js';

const name = `oftl${randomBytes(3).toString('hex')}`;
let host: OvsHost;
let pki: Pki;
let child: ChildProcess | undefined;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('integration test needs root (network namespaces, OVS)');
  pki = makePki();
  host = await startOvsHost({ name });
}, 120_000);

afterAll(async () => {
  if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
  await host?.destroy();
  pki?.cleanup();
});

/** Runs in the switch's namespace: listen, wait for the switch, install a flow over TLS, report, exit. */
const childCode = (channelIndex: string, files: { ca: string; cert: string; key: string }) => `
import { readFileSync } from 'node:fs';
import { OfListener } from ${JSON.stringify(channelIndex)};
const f = (p) => readFileSync(p);
const l = new OfListener({ endpoint: 'ssl:127.0.0.1:0', tls: { ca: f(${JSON.stringify(files.ca)}), cert: f(${JSON.stringify(files.cert)}), key: f(${JSON.stringify(files.key)}) } });
const addr = await l.listen();
console.log(JSON.stringify({ event: 'listening', port: addr.port }));
l.once('switch', async (s) => {
  try {
    await s.bundle([{ type: 'FLOW_MOD', xid: 0, cookie: 0x7115n, cookieMask: 0n, tableId: 0, command: 'add', idleTimeout: 0,
      hardTimeout: 0, priority: 321, bufferId: 0xffffffff, outPort: 0xffffffff, outGroup: 0xffffffff, flags: 0,
      match: [{ field: 'eth_type', value: 0x0806 }], instructions: [] }]);
    const flows = await s.dumpFlows();
    console.log(JSON.stringify({ event: 'switch', dpid: s.features.datapathId.toString(16), flows: flows.map((x) => x.cookie.toString(16)) }));
  } catch (err) {
    console.log(JSON.stringify({ event: 'error', message: String(err && err.message) }));
  }
  await l.close();
  process.exit(0);
});
`;

it('ovs-vswitchd connects over CA-verified TLS to OfListener and takes a bundle', async () => {
  const channelIndex = resolve(__dirname, '../../src/openflow/channel/index.js');
  child = spawn(
    'ip',
    [
      'netns',
      'exec',
      host.netns,
      process.execPath,
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      childCode(channelIndex, { ca: pki.ca, ...pki.server }),
    ],
    {
      cwd: resolve(__dirname, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout! });
  const events: Array<Record<string, unknown>> = [];
  const next = (event: string, timeoutMs: number) =>
    new Promise<Record<string, unknown>>((ok, fail) => {
      const t = setTimeout(
        () => fail(new Error(`child: no '${event}' in ${timeoutMs} ms; stderr: ${stderr}; events: ${JSON.stringify(events)}`)),
        timeoutMs,
      );
      const check = () => {
        const e = events.find((x) => x.event === event || x.event === 'error');
        if (!e) return;
        clearTimeout(t);
        lines.off('line', onLine);
        if (e.event === 'error') fail(new Error(`child failed: ${String(e.message)}`));
        else ok(e);
      };
      const onLine = (l: string) => {
        try {
          events.push(JSON.parse(l) as Record<string, unknown>);
        } catch {
          return;
        }
        check();
      };
      lines.on('line', onLine);
      // A child that dies says why at once instead of leaving us to time out.
      child!.once('exit', (code, signal) => {
        clearTimeout(t);
        if (!events.some((x) => x.event === event))
          fail(new Error(`child exited (${code ?? signal}) before '${event}'; stderr: ${stderr}`));
      });
      check();
    });

  const { port } = await next('listening', 60_000); // generous: the machine may be loaded
  await host.vsctl(['set-ssl', pki.client.key, pki.client.cert, pki.ca]);
  await host.vsctl(['set-controller', 'br-int', `ssl:127.0.0.1:${String(port)}`]);
  const got = await next('switch', 60_000); // OVS's reconnect backoff grows to 8 s

  const dpid = (await host.vsctl(['get', 'Bridge', 'br-int', 'datapath_id'])).trim().replace(/"/g, '');
  expect(BigInt(`0x${String(got.dpid)}`)).toBe(BigInt(`0x${dpid}`));
  expect(got.flows).toContain('7115');
  const dump = await host.ofctl(['-O', 'OpenFlow13', 'dump-flows', host.mgmtSock()]);
  expect(dump).toMatch(/cookie=0x7115,.*priority=321,arp actions=drop/);
}, 150_000);
