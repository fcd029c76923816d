/**
 * Passwords stay secret: not in error messages or the agent's fatal log (malformed or unreachable store URLs),
 * not in its logs while it runs, not on any command line (/proc/PID/cmdline), not in the sandbox's state.json
 * (which is 0600 anyway). The agents are real processes from the built JS, started as the sandbox starts them.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxCommand } from '../../src/cli/sandbox.js';
import { restartAgent, startAgent, stopAgent } from '../../src/sandbox/agents.js';
import { Sandbox } from '../../src/sandbox/index.js';
import { STATE_FILE } from '../../src/sandbox/state.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { requireSandboxPrereqs } from './sandbox-helpers.js';
import { cleanEnv, wyvern, WYVERN_CLI } from '../helpers/cli.js';

const CLI = WYVERN_CLI;
const SECRET = 'pw-s3cret-x9';

describe('a store password never shows in errors', () => {
  const agent = ['agent', '--config', '/dev/null', '--tunnel-ip', '10.0.0.1', '--ovsdb', 'unix:/nonexistent.sock'];
  it.each([`etcd://wyvern:${SECRET}@`, `etcd://wyvern:${SECRET}@127.0.0.1`, `etcd://wyvern:${SECRET}@h:99999`, `etcd://${SECRET}@h`])(
    'malformed %s: stderr and the fatal log say what is wrong, without the password',
    async (url) => {
      for (const r of [await wyvern(agent, { WYVERN_STORE: url }), await wyvern([...agent, '--store', url])]) {
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/agent failed to start/);
        expect(r.stderr).toMatch(/invalid store URL/);
        expect(r.stderr).not.toContain(SECRET);
      }
      const api = await wyvern(['api', '--store', url]);
      expect(api.code).toBe(1);
      expect(api.stderr).toMatch(/invalid store URL/);
      expect(api.stderr).not.toContain(SECRET);
    },
  );

  it('an unreachable etcd: the agent keeps running and its warning names the store, without the password', async () => {
    // An unreachable store is an outage, not a configuration error: the agent waits for it (issue 11).
    const dir = mkdtempSync(join(tmpdir(), 'wv-secret-'));
    const child = spawn(process.execPath, [CLI, ...agent, '--api-listen', 'none', '--cache-file', join(dir, 'cache.json')], {
      env: cleanEnv({ WYVERN_STORE: `etcd://wyvern:${SECRET}@127.0.0.1:1` }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const t0 = Date.now();
      while (!/store unreachable/.test(out) && child.exitCode === null && Date.now() - t0 < 20_000)
        await new Promise((r) => setTimeout(r, 50));
      expect(child.exitCode).toBe(null);
      expect(out).toMatch(/"store":"etcd:\/\/wyvern:\*\*\*@127\.0\.0\.1:1".*store unreachable/);
      expect(out).not.toContain(SECRET);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
    expect(out).not.toContain(SECRET);
  }, 30_000);

  it('--store-password on the command line is refused, pointing at the env and the file', async () => {
    const r = await wyvern([...agent, '--store-password', SECRET]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--store-password is not accepted on the command line.*WYVERN_STORE_PASSWORD/);
  });
});

describe('sandbox agents with an authenticated etcd', () => {
  let etcd: EtcdCluster;
  let sb: Sandbox;
  beforeAll(async () => {
    requireSandboxPrereqs();
    etcd = await startEtcd();
    const admin = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
    await admin.user('root').create('rootpw');
    await admin.user('root').addRole('root');
    await admin.user('wyvern').create(SECRET);
    await admin.role('wyvern').create();
    await admin.role('wyvern').grant({ permission: 'Readwrite', range: admin.range({ prefix: '/wyvern/' }) });
    await admin.user('wyvern').addRole('wyvern');
    await admin.auth.authEnable();
    admin.close();
    sb = await Sandbox.up({ hosts: 1 });
  }, 120_000);
  afterAll(async () => {
    // `host add` ran in the sandbox CLI: the state on disk knows more hosts than `sb` does.
    if (sb)
      await Sandbox.load(sb.name).then(
        (s) => s.down(),
        () => sb.down(),
      );
    await etcd?.stop();
  });

  const noSecretAnywhere = (pid: number) => {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    expect(cmdline).toContain('agent');
    expect(cmdline).not.toContain(SECRET);
    const statePath = join(sb.runDir, STATE_FILE);
    expect(statSync(statePath).mode & 0o777).toBe(0o600);
    expect(readFileSync(statePath, 'utf8')).not.toContain(SECRET);
    const secrets = join(sb.runDir, 'hv1', 'agent.secrets.json');
    expect(statSync(secrets).mode & 0o777).toBe(0o600);
  };

  it('user:password in the URL: off the command line, masked in state.json, never logged; a restart still has it', async () => {
    const url = etcd.url.replace('etcd://', `etcd://wyvern:${SECRET}@`);
    const a = await startAgent(sb, 'hv1', { store: url, logLevel: 'debug' });
    noSecretAnywhere(a.pid);
    expect(readFileSync(join(sb.runDir, STATE_FILE), 'utf8')).toContain('etcd://wyvern:***@');
    expect(readFileSync(a.log, 'utf8')).toMatch(/agent started/);
    await stopAgent(sb, 'hv1');
    // The saved options come back with the password (from the 0600 file), so the agent starts again.
    const b = await restartAgent(sb, 'hv1');
    noSecretAnywhere(b.pid);
    // `wyvern sandbox host add` gives the new host an agent with its peer's settings, password included.
    let out = '';
    let err = '';
    const code = await sandboxCommand(['--name', sb.name, 'host', 'add'], { out: (t) => (out += t), err: (t) => (err += t) });
    expect(code, err).toBe(0);
    const m = /agent on hv2: pid (\d+)/.exec(out);
    expect(m, out).not.toBeNull();
    expect(readFileSync(`/proc/${m![1]}/cmdline`, 'utf8')).not.toContain(SECRET);
    const reloaded = await Sandbox.load(sb.name);
    await stopAgent(reloaded, 'hv2');
    await stopAgent(sb, 'hv1');
    expect(readFileSync(join(sb.runDir, STATE_FILE), 'utf8')).not.toContain(SECRET);
    expect(readFileSync(a.log, 'utf8')).not.toContain(SECRET);
  }, 90_000);

  it('user and password from the environment (WYVERN_STORE_USER / WYVERN_STORE_PASSWORD)', async () => {
    const a = await startAgent(sb, 'hv1', {
      store: etcd.url,
      logLevel: 'debug',
      env: { WYVERN_STORE_USER: 'wyvern', WYVERN_STORE_PASSWORD: SECRET },
    });
    noSecretAnywhere(a.pid);
    expect(readFileSync(join(sb.runDir, STATE_FILE), 'utf8')).not.toContain('WYVERN_STORE_PASSWORD');
    await stopAgent(sb, 'hv1');
    expect(readFileSync(a.log, 'utf8')).not.toContain(SECRET);
  }, 60_000);
});
