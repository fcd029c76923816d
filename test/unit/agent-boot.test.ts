/**
 * The agent bundle's boot (scripts/agent-boot.cjs, built to dist/agent/boot.cjs): the code cache is used only when
 * made from this very bundle under the same V8 flags, and the bundle runs without it otherwise. Each case runs the
 * boot as a process on a copy of the built dist/agent/ (the test setup builds it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_ENV, AGENT_NODE_FLAGS, AGENT_RUNTIME_V8_FLAGS, agentEnvironment } from '../../src/agent/node-flags.js';
import { TIER_UP_FLAGS } from '../../src/util/tier-up.js';

const built = join(import.meta.dirname, '../../dist/agent');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of the built dist/agent/ to spoil. */
function copy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wv-boot-'));
  dirs.push(dir);
  cpSync(built, dir, { recursive: true });
  return dir;
}

const boot = (dir: string, args: string[], nodeFlags = AGENT_NODE_FLAGS): string =>
  execFileSync(process.execPath, [...nodeFlags, join(dir, 'boot.cjs'), ...args], { encoding: 'utf8' }).trim();

type ReadText = (path: string) => string | undefined;
interface BootModule {
  RUNTIME_V8_FLAGS: string[];
  START_BUILTINS: string[];
  startBuiltins(argv: string[], env: Record<string, string | undefined>, readText: ReadText): string[];
}
const bootModule = () => createRequire(import.meta.url)(join(built, 'boot.cjs')) as BootModule;

describe('agent boot', () => {
  it('sets the V8 flags node-flags.ts names (young generation growth and baseline compiler off, tier-up policy)', () => {
    const b = bootModule();
    expect(b.RUNTIME_V8_FLAGS).toEqual(AGENT_RUNTIME_V8_FLAGS);
    expect(AGENT_RUNTIME_V8_FLAGS).toEqual(expect.arrayContaining(['--semi-space-growth-factor=1', '--no-sparkplug', ...TIER_UP_FLAGS]));
    expect(b.START_BUILTINS).toContain('node:net');
  });

  it("the agent's environment: its malloc settings set, NODE_EXTRA_CA_CERTS taken out, the rest kept", () => {
    const base = { PATH: '/usr/bin', NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt', MALLOC_TRIM_THRESHOLD_: '1' };
    expect(agentEnvironment(base)).toEqual({ PATH: '/usr/bin', ...AGENT_ENV });
    expect(base.NODE_EXTRA_CA_CERTS).toBeDefined(); // the parent's own is left alone
  });

  it("uses the build's cache; a stale, missing or foreign one is not used and the bundle still runs", () => {
    const dir = copy();
    // Trained on real starts where the build could run a sandbox (scripts/train-agent-cache.mjs; the package test
    // requires it), else made from the bundle's top level.
    expect(boot(dir, ['--check-code-cache'])).toMatch(/^used(, trained on level(, etcd)?)?$/);
    // Other V8 flags than the cache was made with: V8 refuses it.
    expect(boot(dir, ['--check-code-cache'], [...AGENT_NODE_FLAGS, '--stack-size=900'])).toBe('rejected by V8');
    expect(boot(dir, ['agent', '--help'], [...AGENT_NODE_FLAGS, '--stack-size=900'])).toMatch(/^usage: wyvern agent/);
    // The bundle changed after the cache was made (same length or not, the hash tells).
    appendFileSync(join(dir, 'agent.cjs'), '\n');
    expect(boot(dir, ['--check-code-cache'])).toBe('stale');
    expect(boot(dir, ['--help'])).toMatch(/^usage: wyvern agent/);
    // Made again for this bundle: used again.
    expect(boot(dir, ['--make-code-cache'])).toMatch(/agent code cache: .*agent\.cjs\.v8cache \(\d+ bytes\)/);
    expect(boot(dir, ['--check-code-cache'])).toBe('used'); // not trained any more: the record went with the old cache
    rmSync(join(dir, 'agent.cjs.v8cache'));
    expect(boot(dir, ['--check-code-cache'])).toBe('absent');
    expect(boot(dir, ['--help'])).toMatch(/^usage: wyvern agent/);
  });

  describe('node:http2 (the etcd client) is loaded early only for an agent whose store may be etcd', () => {
    const files =
      (f: Record<string, string>): ReadText =>
      (path) =>
        f[path];
    const loadsHttp2 = (argv: string[], env: Record<string, string> = {}, f: Record<string, string> = {}) =>
      bootModule().startBuiltins(argv, env, files(f)).includes('node:http2');
    const yaml = (store: string) => `chassis: hv1\n# store: etcd://commented:2379\nstoreCa: /x.pem\n${store}\ncacheFile: none\n`;

    it('resolves the store as the agent does: the last flag, else WYVERN_STORE, else the config file, else level', () => {
      expect(loadsHttp2([])).toBe(false); // no file: the default level store
      expect(loadsHttp2(['--store', 'etcd://10.0.0.5:2379'])).toBe(true);
      expect(loadsHttp2(['--store=etcds://10.0.0.5:2379'])).toBe(true);
      expect(loadsHttp2(['--store', 'etcd://a:1', '--store=level:/x'])).toBe(false);
      expect(loadsHttp2(['--store', 'level:/x'], { WYVERN_STORE: 'etcd://a:1' })).toBe(false);
      expect(loadsHttp2([], { WYVERN_STORE: 'etcd://a:1' }, { '/etc/wyvern/agent.yaml': yaml('store: level:/x') })).toBe(true);
      expect(loadsHttp2([], { WYVERN_STORE: 'memory:' })).toBe(false);
      expect(loadsHttp2([], {}, { '/etc/wyvern/agent.yaml': yaml('store: etcd://10.0.0.5:2379  # the cluster') })).toBe(true);
      expect(loadsHttp2([], {}, { '/etc/wyvern/agent.yaml': yaml("store: 'level:/var/lib/wyvern/store'") })).toBe(false);
      expect(
        loadsHttp2(
          ['--config', '/c.yaml'],
          {},
          { '/c.yaml': yaml('store: level:/x'), '/etc/wyvern/agent.yaml': yaml('store: etcd://a:1') },
        ),
      ).toBe(false);
      expect(loadsHttp2(['--config=/c.yaml'], {}, { '/c.yaml': 'chassis: hv1\n' })).toBe(false); // no store: key
    });

    it('loads it whenever it cannot tell (the guess costs start-up time or memory, never function)', () => {
      expect(loadsHttp2(['--config', '/missing.yaml'])).toBe(true);
      expect(loadsHttp2([], {}, { '/etc/wyvern/agent.yaml': '{store: "level:/x"}' })).toBe(true);
      expect(loadsHttp2([], {}, { '/etc/wyvern/agent.yaml': 'store:\n  level:/x\n' })).toBe(true);
      expect(loadsHttp2([], {}, { '/etc/wyvern/agent.yaml': '"store": level:/x\n' })).toBe(true);
      expect(loadsHttp2([], { WYVERN_STORE: '' })).toBe(true);
    });

    it('a boot whose store is level never loads it; one on etcd does, before the agent runs', () => {
      const probe = join(copy(), 'probe.cjs');
      writeFileSync(
        probe,
        "process.on('exit', () => process.stdout.write(`http2:${process.moduleLoadList.includes('NativeModule http2')}`));\n",
      );
      // An unknown option: the agent reads its settings, says so and exits before it opens anything.
      const run = (store: string) =>
        spawnSync(process.execPath, ['-r', probe, join(built, 'boot.cjs'), '--store', store, '--no-such-option'], { encoding: 'utf8' })
          .stdout;
      expect(run('level:/nonexistent')).toMatch(/http2:false$/);
      expect(run('etcd://127.0.0.1:1')).toMatch(/http2:true$/);
    });
  });
});
