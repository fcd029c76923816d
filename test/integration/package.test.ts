/**
 * Issue 15 part 1, the package's proof on this machine (root): scripts/package builds the .deb;
 * `systemd-analyze verify` passes on its unit; `dpkg -i` installs it and the installed `wyvern --version` runs;
 * the installed files are exactly the npm package plus its production dependencies and runtime; the unit's
 * ExecStart, run by hand as the unit's user with the unit's capabilities (setpriv), brings an agent up against
 * a sandbox host's Open vSwitch and a test etcd and registers its chassis; SIGHUP applies logLevel live; and
 * `dpkg --purge` leaves no process, user or file. The machine is left as it was found, also on failure: the
 * package purged, and what was at /var/lib/wyvern or /etc/wyvern before (other agents' caches) put back.
 */
import { freePort } from '../../src/util/free-port.js';
import { AGENT_ENV, AGENT_ENV_REMOVED, AGENT_NODE_FLAGS } from '../../src/agent/node-flags.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chassisKey } from '../../src/model/keys.js';
import { startOvsHost, type OvsHost } from '../../src/sandbox/index.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { yamlSha256 } from '../../src/pipeline/precompiled.js';

const ROOT = join(import.meta.dirname, '../..');
const UNIT = '/lib/systemd/system/wyvern-agent.service';
const PKG_PATHS = ['/usr/lib/wyvern', '/usr/bin/wyvern', UNIT, '/etc/wyvern', '/var/lib/wyvern'];

interface Res {
  code: number;
  stdout: string;
  stderr: string;
}
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<Res> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: opts.timeout ?? 60_000, env: opts.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}
async function ok(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}
const installed = async () => (await run('dpkg-query', ['-W', '-f=${Status}', 'wyvern'])).stdout.includes('install ok installed');
const userExists = async (name: string) => (await run('getent', ['passwd', name])).code === 0;
const groupExists = async (name: string) => (await run('getent', ['group', name])).code === 0;

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every file under dir, relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name), base) : [relative(base, join(dir, e.name))],
  );
}

/** `Key=value` lines of the unit's [Service] section (last one wins). */
function unitSettings(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

describe('the Debian package (scripts/package, dpkg, the unit)', () => {
  let tmp: string;
  let deb: string;
  let etcd: EtcdCluster | undefined;
  let host: OvsHost | undefined;
  let store: Store | undefined;
  let agent: ChildProcess | undefined;
  let agentLog: string;
  let weInstalled = false;
  const backups: { path: string; copy: string }[] = [];
  const chassis = `pk-${process.pid}`;

  beforeAll(async () => {
    expect(process.getuid?.(), 'the package test installs a package: it needs root').toBe(0);
    // Never touch a wyvern someone installed: this test would purge it.
    if (await installed()) throw new Error('a wyvern package is installed on this machine; the package test refuses to replace it');
    if (await userExists('wyvern')) throw new Error('a wyvern user exists (not from a package): the package test refuses to run');
    tmp = await mkdtemp(join(tmpdir(), 'wyvern-pkg-'));
    for (const path of ['/var/lib/wyvern', '/etc/wyvern']) {
      if (!existsSync(path)) continue;
      const copy = join(tmp, 'backup', path.replaceAll('/', '_'));
      await cp(path, copy, { recursive: true, preserveTimestamps: true });
      backups.push({ path, copy });
    }
    const out = await ok(join(ROOT, 'scripts/package'), ['--out', join(tmp, 'out')], {
      env: { ...process.env, DEB_COMPRESS: '-Zgzip -z1' },
      timeout: 120_000,
    });
    deb = out.trim().split('\n').at(-1)!;
  }, 180_000);

  afterAll(async () => {
    if (agent && agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
    if (weInstalled && (await installed())) await run('dpkg', ['--purge', 'wyvern']);
    if (weInstalled) {
      await run('deluser', ['--system', '--quiet', 'wyvern']);
      await run('delgroup', ['--system', '--quiet', 'wyvern']);
    }
    for (const b of backups) {
      await rm(b.path, { recursive: true, force: true });
      await cp(b.copy, b.path, { recursive: true, preserveTimestamps: true });
    }
    await store?.close().catch(() => undefined);
    await host?.destroy().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, 120_000);

  it('builds wyvern_<version>_<arch>.deb with its unit, conffile and maintainer scripts', async () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(deb).toMatch(new RegExp(`/wyvern_${version.replaceAll('.', '\\.')}_(amd64|arm64|all)\\.deb$`));
    const info = await ok('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Depends']);
    expect(info).toContain(`Version: ${version}`);
    const list = await ok('dpkg-deb', ['-c', deb]);
    for (const p of ['./usr/bin/wyvern', `.${UNIT}`, './etc/wyvern/agent.yaml', './usr/lib/wyvern/LICENSE']) expect(list).toContain(p);
    expect(list).not.toMatch(/\/dist\/(test|bench)\//);
    const ctl = join(tmp, 'control');
    await ok('dpkg-deb', ['-e', deb, ctl]);
    expect(readFileSync(join(ctl, 'conffiles'), 'utf8').trim()).toBe('/etc/wyvern/agent.yaml');
    for (const s of ['postinst', 'prerm', 'postrm']) await ok('sh', ['-n', join(ctl, s)]);
  });

  it('installs with dpkg -i: `wyvern --version` runs, the wyvern user exists, systemd-analyze verify passes', async () => {
    weInstalled = true; // set first: a half-done install is purged too
    await ok('dpkg', ['-i', deb], { timeout: 120_000 });
    expect((await ok('/usr/bin/wyvern', ['--version'])).trim()).toMatch(/^wyvern \d+\.\d+\.\d+/);
    expect(await userExists('wyvern')).toBe(true);
    expect((await ok('stat', ['-c', '%U:%G %a', '/etc/wyvern/agent.yaml'])).trim()).toBe('root:wyvern 640');
    expect((await ok('stat', ['-c', '%U:%G %a', '/var/lib/wyvern'])).trim()).toBe('wyvern:wyvern 750');
    const verify = await run('systemd-analyze', ['verify', UNIT]);
    expect(verify.stderr + verify.stdout).toBe('');
    expect(verify.code).toBe(0);
    const unit = unitSettings(readFileSync(UNIT, 'utf8'));
    expect(unit).toMatchObject({ After: expect.stringContaining('openvswitch-switch.service') as unknown as string });
    expect(unit.Wants).toContain('openvswitch-switch.service');
    expect(unit).toMatchObject({ Restart: 'on-failure', NoNewPrivileges: 'yes', ProtectSystem: 'strict', User: 'wyvern' });
    expect(unit.CapabilityBoundingSet).toBe('CAP_DAC_OVERRIDE');
    expect(unit.ExecReload).toBe('/bin/kill -HUP $MAINPID');
  }, 150_000);

  it('installs exactly the npm package (built from clean) plus production dependencies and the runtime', () => {
    const files = walk('/usr/lib/wyvern').filter((f) => !f.startsWith('node_modules/') && !f.startsWith('node/'));
    const sources = walk(join(ROOT, 'src')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
    const pipelines = readdirSync(join(ROOT, 'pipelines')).filter((f) => f.endsWith('.yaml'));
    const expected = [
      'LICENSE',
      'README.md',
      'package.json',
      ...pipelines.map((f) => `pipelines/${f}`),
      ...sources.flatMap((f) => [`dist/src/${f.replace(/\.ts$/, '.js')}`, `dist/src/${f.replace(/\.ts$/, '.d.ts')}`]),
      // The pipeline's YAML parsed at build time (src/pipeline/precompiled.ts), made from the YAML installed beside it.
      'dist/src/pipeline/default.parsed.json',
      // The agent bundle (scripts/bundle-agent.mjs): one file, its source map, boot, V8 code cache and parsed pipeline.
      'dist/agent/agent.cjs',
      'dist/agent/agent.cjs.map',
      'dist/agent/agent.cjs.v8cache',
      // …trained on real agent starts by the package build (it runs as root with Open vSwitch here): what on.
      'dist/agent/agent.cjs.v8cache.json',
      'dist/agent/boot.cjs',
      'dist/agent/default.parsed.json',
    ];
    expect(files.sort()).toEqual(expected.sort());
    const parsed = JSON.parse(readFileSync('/usr/lib/wyvern/dist/src/pipeline/default.parsed.json', 'utf8')) as { sha256: string };
    expect(parsed.sha256).toBe(yamlSha256(readFileSync('/usr/lib/wyvern/pipelines/default.yaml', 'utf8')));
    const modules = readdirSync('/usr/lib/wyvern/node_modules');
    for (const dep of ['level', 'pino', 'yaml']) expect(modules).toContain(dep);
    // The etcd client is our own (src/store/etcd-client/): etcd3 and its gRPC stack are test oracles only.
    for (const dev of ['vitest', 'typescript', 'eslint', 'tsx', 'fast-check', 'etcd3', 'cockatiel', 'protobufjs'])
      expect(modules).not.toContain(dev);
    // npm prune leaves a pruned scope's directory behind, empty: look for the packages themselves.
    for (const gone of ['@grpc/grpc-js', '@grpc/proto-loader'])
      expect(existsSync(join('/usr/lib/wyvern/node_modules', gone)), gone).toBe(false);
  });

  it("the installed runtime opens the default store (level: a native module, this architecture's prebuild)", async () => {
    const dir = join(tmp, 'level');
    const script = `
      const { openStore } = await import('/usr/lib/wyvern/dist/src/store/index.js');
      const s = await openStore('level:${dir}');
      await s.put('/k', 'v');
      const kv = await s.get('/k');
      await s.close();
      console.log(JSON.stringify(kv?.value ?? null));`;
    const out = await ok('/usr/lib/wyvern/node/bin/node', ['--input-type=module', '-e', script]);
    expect(out.trim()).toBe('"v"');
  });

  it("the unit's ExecStart, run by hand as its user with its capabilities, registers the chassis; SIGHUP reloads", async () => {
    [etcd, host] = await Promise.all([startEtcd(), startOvsHost({ name: `pk${process.pid % 100000}` })]);
    store = await openStore(etcd.url);
    const apiPort = await freePort();
    // While installed, /etc/wyvern/agent.yaml is read by any agent started without --config (sandbox agents pass
    // --config /dev/null): only settings such agents would give as flags anyway are written here.
    const config = (logLevel: string, leaseTtl = 60) =>
      [
        `chassis: ${chassis}`,
        'tunnelIp: 192.0.2.77',
        `store: ${etcd!.url}`,
        'datapathType: netdev',
        `ovsdb: unix:${host!.dbSock}`,
        `openflow: unix:${host!.mgmtSock()}`,
        `apiListen: tcp:127.0.0.1:${apiPort}`,
        `logLevel: ${logLevel}`,
        `leaseTtlSeconds: ${leaseTtl}`,
        '',
      ].join('\n');
    await writeFile('/etc/wyvern/agent.yaml', config('info'));

    const unit = unitSettings(readFileSync(UNIT, 'utf8'));
    // Open vSwitch makes its sockets root-only (srwxr-x---): without the capability the user cannot connect.
    const denied = await run('setpriv', [
      `--reuid=${unit.User}`,
      `--regid=${unit.Group}`,
      '--init-groups',
      '--bounding-set=-all',
      '--no-new-privs',
      '--',
      'ovs-vsctl',
      `--db=unix:${host.dbSock}`,
      '--timeout=5',
      'br-exists',
      'br-int',
    ]);
    expect(denied.stderr).toMatch(/Permission denied/);
    const execStart = unit.ExecStart!.split(/\s+/);
    const caps = unit.AmbientCapabilities!.split(/\s+/).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`);
    agentLog = join(tmp, 'agent.log');
    const fd = openSync(agentLog, 'w');
    // What systemd does for User=/Group=, AmbientCapabilities=, CapabilityBoundingSet=, NoNewPrivileges=.
    agent = spawn(
      'setpriv',
      [
        `--reuid=${unit.User}`,
        `--regid=${unit.Group}`,
        '--init-groups',
        `--inh-caps=-all,${caps.join(',')}`,
        `--ambient-caps=-all,${caps.join(',')}`,
        `--bounding-set=-all,${caps.join(',')}`,
        '--no-new-privs',
        '--',
        ...execStart,
      ],
      // NODE_EXTRA_CA_CERTS as an operator's environment may have it: the launcher takes it out (AGENT_ENV_REMOVED).
      { stdio: ['ignore', fd, fd], cwd: '/', env: { ...process.env, NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' } },
    );
    closeSync(fd);
    const log = () => readFileSync(agentLog, 'utf8');
    await until('the chassis in etcd', async () => ((await store!.get(chassisKey(chassis))) ? true : undefined), 45_000).catch(
      (err: Error) => {
        throw new Error(`${err.message}\nagent log:\n${log()}`);
      },
    );
    const status = JSON.parse(await ok('/usr/bin/wyvern', ['agent', 'status', '--api', `http://127.0.0.1:${apiPort}`])) as {
      chassis?: unknown;
    };
    expect(JSON.stringify(status)).toContain(chassis);
    // The CLI's commands run without NODE_EXTRA_CA_CERTS, which Node would read at every start: the launcher hands the
    // file over as WYVERN_EXTRA_CA_CERTS (src/api/extra-ca.ts). Seen in the environment of a command left waiting on
    // an API that accepts and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const waiting = spawn('/usr/bin/wyvern', ['network', 'list', '--api', `http://127.0.0.1:${(silent.address() as AddressInfo).port}`], {
      stdio: 'ignore',
      env: { ...process.env, NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' },
    });
    try {
      await new Promise<void>((r) => silent.once('connection', () => r()));
      const cliEnv = readFileSync(`/proc/${waiting.pid}/environ`, 'utf8').split('\0');
      expect(readFileSync(`/proc/${waiting.pid}/cmdline`, 'utf8')).toContain('/usr/lib/wyvern/dist/src/cli/main.js');
      expect(cliEnv.filter((e) => e.startsWith('NODE_EXTRA_CA_CERTS='))).toEqual([]);
      expect(cliEnv).toContain('WYVERN_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt');
    } finally {
      waiting.kill();
      silent.close();
    }
    // It runs as the unit's user: /proc/<pid>/status Uid.
    const uid = (await ok('id', ['-u', unit.User!])).trim();
    expect(readFileSync(`/proc/${agent.pid}/status`, 'utf8')).toMatch(new RegExp(`\\nUid:\\s+${uid}\\s`));
    // The launcher runs the agent with its V8 settings (src/agent/node-flags.ts): the exec'd node's own argv.
    const argv = readFileSync(`/proc/${agent.pid}/cmdline`, 'utf8').split('\0');
    for (const flag of AGENT_NODE_FLAGS) expect(argv).toContain(flag);
    // …from its bundle, with the code cache the package made with its own runtime, which V8 accepts.
    expect(argv).toContain('/usr/lib/wyvern/dist/agent/boot.cjs');
    // …with its malloc settings in its environment (AGENT_ENV, src/agent/node-flags.ts), and without what it must not inherit.
    const environ = readFileSync(`/proc/${agent.pid}/environ`, 'utf8').split('\0');
    for (const [k, v] of Object.entries(AGENT_ENV)) expect(environ).toContain(`${k}=${v}`);
    for (const k of AGENT_ENV_REMOVED) expect(environ.filter((e) => e.startsWith(`${k}=`))).toEqual([]);
    // The cache was trained on real agent starts on both stores by the package build, with the runtime it ships.
    expect((await ok('/usr/bin/wyvern', ['agent', '--check-code-cache'])).trim()).toBe('used, trained on level, etcd');
    const timeline = await until('the start timeline', async () =>
      log()
        .split('\n')
        .find((l) => l.includes('start timeline')),
    );
    expect(Object.keys((JSON.parse(timeline) as { ms: Record<string, number> }).ms)).toContain(
      'bundle compiled and evaluated (code cache used)',
    );

    // SIGHUP (ExecReload): logLevel applies at once; a changed lease TTL is named as needing a restart.
    await writeFile('/etc/wyvern/agent.yaml', config('debug', 61));
    process.kill(agent.pid!, 'SIGHUP');
    const line = await until('the SIGHUP log line', async () =>
      log()
        .split('\n')
        .find((l) => l.includes('SIGHUP: settings reloaded')),
    );
    expect(JSON.parse(line)).toMatchObject({ logLevel: 'debug', needsRestart: ['leaseTtlSeconds'] });
    expect(agent.exitCode).toBeNull();
  }, 90_000);

  it('dpkg --purge stops the agent (SIGTERM: the chassis stays to its lease) and leaves no process, user or file', async () => {
    expect(agent?.pid).toBeDefined();
    const exited = new Promise<void>((resolve) => {
      if (agent!.exitCode !== null || agent!.signalCode !== null) resolve();
      else agent!.once('exit', () => resolve());
    });
    await ok('dpkg', ['--purge', 'wyvern'], { timeout: 60_000 });
    await exited;
    expect(agent!.exitCode).toBe(0);
    expect(readFileSync(agentLog, 'utf8')).toContain('"signal":"SIGTERM"');
    // A planned stop withdraws nothing: the chassis is left to its lease.
    expect(await store!.get(chassisKey(chassis))).toBeDefined();
    expect(await installed()).toBe(false);
    expect(await userExists('wyvern')).toBe(false);
    expect(await groupExists('wyvern')).toBe(false);
    for (const p of PKG_PATHS) expect(existsSync(p), p).toBe(false);
    const ours = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('/usr/lib/wyvern/');
        } catch {
          return false;
        }
      });
    expect(ours).toEqual([]);
  }, 90_000);
});
