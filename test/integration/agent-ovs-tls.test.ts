/**
 * The agent reaches a "remote" Open vSwitch over ssl: (the Xen Orchestra model): ovsdb-server in passive SSL
 * and ovs-vswitchd listening for controllers (pssl:), both accepting any controller their CA signed. The agent
 * (a real process from the built JS, run inside the switch's namespace so that its loopback is the switch's)
 * is given ovs-ca/ovs-cert/ovs-key through its config. A certificate from another CA is refused on both
 * channels, with a message that says so.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOvsHost, type OvsHost } from '../../src/sandbox/ovs-host.js';
import { killAndWait, waitFor } from '../../src/sandbox/proc.js';
import { run } from '../../src/sandbox/run.js';
import { agentCommandLine } from '../../src/sandbox/agents.js';
import { ovsdbServerCommand } from '../../src/sandbox/ovsdb-server.js';
import { makePki, type CertFiles, type Pki } from '../helpers/pki.js';

const name = `otls${randomBytes(3).toString('hex')}`;
let pki: Pki;
let host: OvsHost;
const children: ChildProcess[] = [];

/** Restarts the host's ovsdb-server with a passive SSL remote on 6640 (its own namespace's loopback). */
async function ovsdbWithSsl(h: OvsHost, server: CertFiles, ca: string): Promise<void> {
  const pid = (await h.pids()).ovsdb;
  if (pid !== undefined) await killAndWait(pid, 'SIGTERM');
  const d = h.runDir;
  await run([
    'ip',
    'netns',
    'exec',
    h.netns,
    ...ovsdbServerCommand({
      db: join(d, 'conf.db'),
      sock: h.dbSock,
      remotes: ['pssl:6640:127.0.0.1'],
      pidfile: join(d, 'ovsdb.pid'),
      unixctl: join(d, 'ovsdb.ctl'),
      logFile: join(d, 'ovsdb.log'),
      extra: [`--private-key=${server.key}`, `--certificate=${server.cert}`, `--ca-cert=${ca}`],
    }),
  ]);
  await waitFor(
    'ovsdb-server with SSL',
    async () => (await h.exec(['ovs-vsctl', `--db=unix:${h.dbSock}`, '--timeout=2', 'show'])).code === 0,
  );
}

interface AgentRun {
  proc: ChildProcess;
  log: () => string;
  exited: () => number | null;
  ready: string;
}

function startAgent(tag: string, ovs: { ca: string; cert: CertFiles }): AgentRun {
  const ready = join(pki.dir, `${tag}.ready`);
  const args = [
    'netns',
    'exec',
    host.netns,
    // As the package's launcher runs it: the agent bundle, whose TLS transport is loaded only for ssl: endpoints.
    ...agentCommandLine(),
    '--config',
    '/dev/null',
    '--chassis',
    `hv-${tag}`,
    '--tunnel-ip',
    '10.77.0.1',
    '--datapath-type',
    'netdev',
    '--ovsdb',
    'ssl:127.0.0.1:6640',
    '--openflow',
    'ssl:127.0.0.1:6653',
    '--ovs-ca',
    ovs.ca,
    '--ovs-cert',
    ovs.cert.cert,
    '--ovs-key',
    ovs.cert.key,
    '--store',
    'memory:',
    '--api-listen',
    `unix:${join(pki.dir, `${tag}.sock`)}`,
    '--ready-file',
    ready,
    '--log-level',
    'debug',
  ];
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WYVERN_')));
  const proc = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.push(proc);
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  return { proc, log: () => out, exited: () => proc.exitCode, ready };
}

async function stop(a: AgentRun): Promise<void> {
  if (a.proc.exitCode === null && a.proc.pid !== undefined) await killAndWait(a.proc.pid, 'SIGTERM');
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('integration test needs root (network namespaces, OVS)');
  pki = makePki();
  host = await startOvsHost({ name });
  await ovsdbWithSsl(host, pki.server, pki.ca);
  // ovs-vswitchd: its SSL identity, and br-int listening for controllers on pssl:6653.
  await host.vsctl(['set-ssl', pki.server.key, pki.server.cert, pki.ca]);
  await host.vsctl(['set-controller', 'br-int', 'pssl:6653:127.0.0.1']);
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.pid !== undefined) await killAndWait(c.pid, 'SIGKILL').catch(() => undefined);
  await host?.destroy();
  pki?.cleanup();
});

describe('agent to Open vSwitch over ssl:', () => {
  it('with ovs-ca/ovs-cert/ovs-key signed by the switch CA: OVSDB and OpenFlow up, flows installed', async () => {
    const a = startAgent('good', { ca: pki.ca, cert: pki.client });
    try {
      await waitFor(
        'agent ready',
        () => {
          if (a.exited() !== null) throw new Error(`agent exited ${a.exited()}:\n${a.log()}`);
          return existsSync(a.ready);
        },
        30_000,
      );
      // The OpenFlow session over TLS installs the pipeline.
      await waitFor('OpenFlow session up', () => /OpenFlow session up/.test(a.log()), 15_000);
      // The session comes up before the first flush lands: wait for the flows rather than race them.
      await waitFor(
        'pipeline flows on br-int',
        async () => {
          const flows = await host.ofctl(['-O', 'OpenFlow13', 'dump-flows', host.mgmtSock()]);
          return flows.split('\n').filter((l) => l.includes('cookie=')).length > 3;
        },
        15_000,
      );
      // The tunnel port the agent made through OVSDB over SSL.
      expect(await host.vsctl(['list-ports', 'br-int'])).toMatch(/\S/);
      expect(JSON.parse(readFileSync(a.ready, 'utf8')).api).toMatch(/^unix:/);
    } finally {
      await stop(a);
    }
  }, 60_000);

  it('a certificate from another CA: the switch refuses it, and the agent exits at once saying so', async () => {
    const a = startAgent('rogue', { ca: pki.ca, cert: pki.otherClient });
    await waitFor('agent to exit', () => a.exited() !== null, 20_000);
    expect(a.exited()).toBe(1);
    expect(a.log()).toMatch(/agent failed to start/);
    expect(a.log()).toMatch(/connect to ssl:127\.0\.0\.1:6640: TLS failed: the peer refused our certificate: not signed by a CA it trusts/);
  }, 30_000);

  it('a switch whose certificate another CA signed: the agent refuses it', async () => {
    const a = startAgent('distrust', { ca: pki.otherCa, cert: pki.otherClient });
    await waitFor('agent to exit', () => a.exited() !== null, 20_000);
    expect(a.exited()).toBe(1);
    expect(a.log()).toMatch(/TLS failed: the peer's certificate is not signed by a trusted CA/);
  }, 30_000);

  it('OpenFlow: a switch that trusts another CA refuses the agent; the agent logs why (and keeps retrying)', async () => {
    await host.vsctl(['set-ssl', pki.server.key, pki.server.cert, pki.otherCa]);
    const a = startAgent('of-refused', { ca: pki.ca, cert: pki.client });
    try {
      await waitFor(
        'the OpenFlow refusal in the log',
        () => {
          if (a.exited() !== null) throw new Error(`agent exited ${a.exited()}:\n${a.log()}`);
          return /OpenFlow connect attempt failed/.test(a.log()) && /TLS failed: the peer refused our certificate/.test(a.log());
        },
        30_000,
      );
      expect(a.log()).not.toMatch(/OpenFlow session up/);
    } finally {
      await stop(a);
      await host.vsctl(['set-ssl', pki.server.key, pki.server.cert, pki.ca]);
    }
  }, 60_000);
});
