/** `wyvern sandbox …` end to end through sandboxCommand, with its output captured. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxCommand } from '../../src/cli/sandbox.js';
import { Sandbox, type SandboxStatus } from '../../src/sandbox/index.js';
import { leftovers, requireSandboxPrereqs } from './sandbox-helpers.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await sandboxCommand(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('wyvern sandbox CLI', () => {
  const name = `cli-${Math.random().toString(36).slice(2, 8)}`;
  const n = ['--name', name];

  beforeAll(() => requireSandboxPrereqs());
  afterAll(async () => {
    // A CLI sandbox has no owner process (sweep leaves it alone): remove it here even if a test failed.
    await Sandbox.load(name).then(
      (sb) => sb.down(),
      () => undefined,
    );
  });

  it('prints help and rejects bad input with exit code 2', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('vm add HOST VM --port-id ID');
    expect((await cli('vm', '--help')).out).toContain('vm del VM');
    for (const bad of [
      ['bogus'],
      ['up'],
      ['up', '--hosts', 'x'],
      ['up', '--hosts', '2', '--encap', 'ipip'],
      ['up', '--frobnicate'],
      ['host', 'reboot', 'hv1'],
    ]) {
      const r = await cli(...n, ...bad);
      expect(r.code, bad.join(' ')).toBe(2);
      expect(r.err).toMatch(/^wyvern sandbox: /);
    }
    const missing = await cli(...n, 'status');
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`no sandbox "${name}"`);
  });

  it('up, vm add, status --json, exec, host stop/start, vm del, down', async () => {
    const up = await cli(...n, 'up', '--hosts', '2', '--encap', 'geneve');
    expect(up.err).toBe('');
    expect(up.code).toBe(0);
    expect((await cli(...n, 'up', '--hosts', '1')).code).toBe(1); // exists already

    const webVm = await cli(
      ...n,
      'vm',
      'add',
      'hv1',
      'web',
      '--port-id',
      'p-web',
      '--ip',
      '10.1.0.5/24',
      '--gw',
      '10.1.0.1',
      '--mac',
      '0a:00:00:00:01:05',
    );
    expect(webVm.code, webVm.err).toBe(0);
    const dhcpVm = await cli(...n, 'vm', 'add', 'hv2', 'cli', '--port-id', 'p-cli', '--dhcp');
    expect(dhcpVm.code, dhcpVm.err).toBe(0);
    const dup = await cli(...n, 'vm', 'add', 'hv2', 'web', '--port-id', 'p2');
    expect(dup.code).toBe(1);
    expect(dup.err).toContain('already exists');
    expect((await cli(...n, 'vm', 'add', 'hv9', 'z', '--port-id', 'pz')).code).toBe(1);
    expect((await cli(...n, 'vm', 'add', 'hv1', 'y', '--port-id', 'py', '--ip', '10.1.0.300/24')).code).toBe(1);

    const st = JSON.parse((await cli(...n, 'status', '--json')).out) as SandboxStatus;
    expect(st.name).toBe(name);
    expect(st.encap).toBe('geneve');
    expect(st.hosts.map((h) => h.name)).toEqual(['hv1', 'hv2']);
    for (const h of st.hosts) {
      expect(h.netns).toBe(`${st.prefix}-${h.name}`);
      expect(h.dbSock).toMatch(/db\.sock$/);
      expect(h.mgmtSock).toMatch(/br-int\.mgmt$/);
      expect(h.tunnelIp).toMatch(/^172\.31\.\d+\.\d+$/);
      expect(h.running.vswitchd).toBeGreaterThan(0);
    }
    const web = st.hosts[0]!.vms[0]!;
    expect(web).toMatchObject({
      name: 'web',
      portId: 'p-web',
      mac: '0a:00:00:00:01:05',
      ip: '10.1.0.5/24',
      gateway: '10.1.0.1',
      dhcp: false,
    });
    expect(web.ofport).toBeGreaterThan(0);
    expect(st.hosts[1]!.vms[0]).toMatchObject({ name: 'cli', ip: null, dhcp: true });
    expect((await cli(...n, 'status')).out).toContain('vm web  iface-id p-web');

    const ex = await cli(...n, 'exec', 'web', '--', 'ip', 'route', 'show', 'default');
    expect(ex.code).toBe(0);
    expect(ex.out).toContain('default via 10.1.0.1');
    expect((await cli(...n, 'exec', 'web', '--', 'false')).code).toBe(1);
    expect((await cli(...n, 'exec', 'web')).code).toBe(2);

    expect((await cli(...n, 'host', 'stop', 'hv1')).code).toBe(0);
    const stopped = JSON.parse((await cli(...n, 'status', '--json')).out) as SandboxStatus;
    expect(stopped.hosts[0]!.running).toEqual({ ovsdb: null, vswitchd: null });
    expect(stopped.hosts[0]!.vms[0]!.ofport).toBeNull();
    expect((await cli(...n, 'host', 'start', 'hv1')).code).toBe(0);
    const again = JSON.parse((await cli(...n, 'status', '--json')).out) as SandboxStatus;
    expect(again.hosts[0]!.vms[0]!.ofport).toBeGreaterThan(0);

    expect((await cli(...n, 'vm', 'del', 'cli')).code).toBe(0);
    expect((await cli(...n, 'vm', 'del', 'cli')).code).toBe(1);

    const down = await cli(...n, 'down');
    expect(down.code).toBe(0);
    expect(leftovers(st.prefix, st.runDir)).toEqual({ netns: [], links: [], procs: [] });
    expect((await cli(...n, 'status')).code).toBe(1);
  });
});
