import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/sandbox/proc.js';
import { startOvsHost, type OvsHost } from '../../src/sandbox/index.js';
import { leftovers, requireSandboxPrereqs } from './sandbox-helpers.js';

describe('OvsHost', () => {
  const name = `wvh${Math.random().toString(36).slice(2, 7)}`;
  const runDir = `/tmp/${name}`;
  let host: OvsHost | undefined;

  beforeAll(async () => {
    requireSandboxPrereqs();
    host = await startOvsHost({ name, runDir });
  });
  afterAll(async () => {
    await host?.destroy();
  });

  it('runs ovsdb-server and ovs-vswitchd in its namespace with br-int configured', async () => {
    const h = host!;
    expect(h.netns).toBe(name);
    expect(h.dbSock).toBe(`${runDir}/db.sock`);
    expect(h.mgmtSock()).toBe(`${runDir}/br-int.mgmt`);
    const p = await h.pids();
    expect(p.ovsdb).toBeGreaterThan(0);
    expect(p.vswitchd).toBeGreaterThan(0);
    const get = async (col: string) => (await h.vsctl(['get', 'Bridge', 'br-int', col])).trim();
    expect(await get('datapath_type')).toBe('netdev');
    expect(await get('fail_mode')).toBe('secure');
    expect(await get('protocols')).toMatch(/^\["?OpenFlow13"?\]$/);
    expect(await get('other_config:disable-in-band')).toBe('"true"');
    expect(await h.ofctl(['-O', 'OpenFlow13', 'show', h.mgmtSock()])).toContain('LOCAL(br-int)');
    expect(await h.appctl(['version'])).toContain('3.');
    const r = await h.exec(['ip', '-o', 'link', 'show', 'br-int']);
    expect(r.code).toBe(0); // the bridge's tap lives inside the host namespace
  });

  it('stop kills both daemons by pid and start brings br-int back with its ports and db contents', async () => {
    const h = host!;
    await h.exec(['ip', 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
    await h.vsctl(['add-port', 'br-int', 'p0', '--', 'set', 'Interface', 'p0', 'external_ids:iface-id=x']);
    const before = await h.pids();
    await h.stop();
    expect(await h.pids()).toEqual({ ovsdb: undefined, vswitchd: undefined });
    // Detached daemons are reparented to pid 1, which may leave them as zombies for a while: dead is enough.
    for (const pid of [before.ovsdb!, before.vswitchd!]) expect(await isAlive(pid)).toBe(false);
    await h.start();
    const after = await h.pids();
    expect(after.vswitchd).not.toBe(before.vswitchd);
    expect(await h.ofctl(['-O', 'OpenFlow13', 'show', h.mgmtSock()])).toMatch(/\d+\(p0\)/);
    expect((await h.vsctl(['get', 'Interface', 'p0', 'external_ids:iface-id'])).trim()).toBe('x');
  });

  it('destroy leaves no namespace, run dir or process', async () => {
    await host!.destroy();
    host = undefined;
    expect(leftovers(name, runDir)).toEqual({ netns: [], links: [], procs: [] });
    expect(existsSync(runDir)).toBe(false);
  });
});
