/**
 * Issue 11, requirement 1 on real OVS and etcd: an agent restart — SIGTERM (systemctl restart) or SIGKILL — loses
 * no packet, whichever side of the ping the restarting host is on; a VM plugged while its agent is down gets its
 * flows and its wyvern-installed mark once the agent is back. Taking a chassis out of service is explicit
 * (decommission, chassis delete): refused while ports are bound unless forced, and peers drop it at once.
 * Figures (packets lost, restart duration) are printed for docs/reliability.md.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chassisKey, CHASSIS_PREFIX } from '../../src/model/keys.js';
import { wyvernCommand } from '../../src/sandbox/agents.js';
import { openStore } from '../../src/store/index.js';
import type { Store, Watch } from '../../src/store/types.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';

interface Res {
  code: number;
  stdout: string;
  stderr: string;
}

/** The built `wyvern` CLI as a process. */
function wyvern(args: string[]): Promise<Res> {
  const [cmd, ...pre] = wyvernCommand();
  return new Promise((resolve) => {
    execFile(cmd!, [...pre, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('planned and unplanned agent restarts', () => {
  let c: Cluster;
  const ports: Record<string, PortInfo> = {};
  const figures: string[] = [];
  /** Chassis keys deleted in etcd (seen by a watch of our own) and when hv1's agent last started. */
  const chassisDeletes: string[] = [];
  let watcher: { store: Store; watch: Watch } | undefined;
  let lastStart = 0;

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 3 });
    const store = await openStore(c.storeUrl);
    const watch = store.watch(CHASSIS_PREFIX, undefined, {
      onBatch: (b) => {
        for (const e of b.events) if (e.type === 'delete') chassisDeletes.push(e.key);
      },
    });
    watcher = { store, watch };
    await c.network('net-a', '10.0.0.0/24');
    for (const [i, host] of ['hv1', 'hv2', 'hv3'].entries()) {
      const name = `vm-${host}`;
      ports[name] = await c.port(name, 'net-a', `10.0.0.${11 + i}`);
      await c.vm(host, name, ports[name]!);
    }
    for (const [a, b] of [
      ['vm-hv1', 'vm-hv2'],
      ['vm-hv2', 'vm-hv1'],
      ['vm-hv1', 'vm-hv3'],
    ]) {
      expect(await c.pingUntil(a!, ports[b!]!.ip, 5_000)).toBeGreaterThanOrEqual(0);
    }
  });

  afterAll(async () => {
    await watcher?.watch.cancel().catch(() => undefined);
    await watcher?.store.close().catch(() => undefined);
    if (figures.length) console.log(`\nagent restart figures (ping -i 0.01 -c 400):\n${figures.join('\n')}\n`);
    await c?.down();
  });

  it.each([
    { signal: 'SIGTERM' as const, role: 'sender', downMs: 0 },
    { signal: 'SIGTERM' as const, role: 'receiver', downMs: 0 },
    { signal: 'SIGKILL' as const, role: 'sender', downMs: 0 },
    { signal: 'SIGKILL' as const, role: 'receiver', downMs: 0 },
    // Down for most of the sandbox's 5 s lease TTL: still nothing withdrawn.
    { signal: 'SIGTERM' as const, role: 'receiver', downMs: 3_000 },
  ])('$signal restart of hv1 (down $downMs ms more) with its VM as $role loses no packet out of 400', async ({ signal, role, downMs }) => {
    const [src, dst] = role === 'sender' ? ['vm-hv1', 'vm-hv2'] : ['vm-hv2', 'vm-hv1'];
    const pinging = c.sb.exec(src, ['ping', '-n', '-q', '-i', '0.01', '-c', '400', '-W', '1', ports[dst]!.ip], 30_000);
    await new Promise((r) => setTimeout(r, 800));
    const t0 = performance.now();
    await c.stopAgent('hv1', signal);
    const down = performance.now();
    await new Promise((r) => setTimeout(r, downMs));
    await c.startAgent('hv1');
    const ready = performance.now();
    lastStart = Date.now();
    const r = await pinging;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    const lost = Number(m![1]) - Number(m![2]);
    figures.push(
      `  ${signal.padEnd(7)} hv1 VM ${role.padEnd(8)}${downMs ? ` (+${downMs} ms down)` : ''}: ${lost}/${m![1]} lost; agent stop ${Math.round(down - t0)} ms, stop→ready ${Math.round(ready - t0)} ms`,
    );
    expect(r.stdout).toMatch(/400 packets transmitted, 400 received, 0% packet loss/);
  });

  it('the chassis key survived those restarts without a gap, and the old leases expiring left it alone', async () => {
    // Past the 5 s TTL of the lease the last stopped agent held (the sandbox's --lease-ttl-seconds).
    const wait = lastStart + 6_500 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const list = (await c.api('hv2').call('GET', '/v1/chassis')) as { name: string }[];
    expect(list.map((x) => x.name)).toEqual(['hv1', 'hv2', 'hv3']);
    // etcd never deleted it: every restart moved the key to the new agent's lease in place.
    expect(chassisDeletes).toEqual([]);
  });

  it('a VM plugged while its agent is down gets its flows and wyvern-installed once the agent is back', async () => {
    ports['vm-late'] = await c.port('vm-late', 'net-a', '10.0.0.20');
    await c.stopAgent('hv1', 'SIGTERM');
    await c.sb.addVm('hv1', 'vm-late', { portId: 'vm-late', mac: ports['vm-late']!.mac, ip: `${ports['vm-late']!.ip}/24` });
    await c.startAgent('hv1');
    await c.waitInstalled('vm-late');
    expect(await c.pingUntil('vm-hv2', ports['vm-late']!.ip, 5_000)).toBeGreaterThanOrEqual(0);
    expect(await c.pingUntil('vm-late', ports['vm-hv3']!.ip, 5_000)).toBeGreaterThanOrEqual(0);
  });

  it('a chassis key lost while its agent runs (lease expired in a store outage) is registered again at once', async () => {
    const store = await openStore(c.storeUrl);
    try {
      await store.delete(chassisKey('hv2'));
    } finally {
      await store.close();
    }
    const t0 = Date.now();
    let back = false;
    while (!back && Date.now() - t0 < 5_000) {
      back = ((await c.api('hv1').call('GET', '/v1/chassis')) as { name: string }[]).some((x) => x.name === 'hv2');
      if (!back) await new Promise((r) => setTimeout(r, 50));
    }
    expect(back).toBe(true);
    // The watch that saw no delete during the restarts does see this one.
    expect(chassisDeletes).toEqual([chassisKey('hv2')]);
    expect(await c.pingUntil('vm-hv1', ports['vm-hv2']!.ip, 5_000)).toBeGreaterThanOrEqual(0);
  });

  /** ms until hv1's switch has no flow towards `host`'s tunnel IP (or -1 after the timeout). */
  async function flowsGoneOnHv1(host: string, timeoutMs = 3_000): Promise<number> {
    const ip = c.sb.host(host).tunnelIp;
    const hv1 = c.sb.host('hv1');
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      const out = await hv1.ovs.ofctl(['-O', 'OpenFlow13', 'dump-flows', hv1.ovs.mgmtSock()]);
      if (!out.includes(`${ip}->tun_dst`)) return Date.now() - t0;
      await new Promise((r) => setTimeout(r, 20));
    }
    return -1;
  }

  it('decommission: refused while a port is bound, with --force peers drop the chassis at once and the agent exits', async () => {
    const api = ['--api', c.api('hv3').api];
    let r = await wyvern(['chassis', 'delete', 'hv3', ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/chassis hv3 still hosts 1 bound port\(s\) \(vm-hv3\).*force/);
    r = await wyvern(['agent', 'decommission', ...api]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/still hosts 1 bound port/);
    // Nothing changed: hv1 still reaches it.
    expect(await c.ping('vm-hv1', ports['vm-hv3']!.ip)).toBe(true);

    const pid = (c.sb.host('hv3').extras.agent as { pid: number }).pid;
    r = await wyvern(['agent', 'decommission', '--force', ...api]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'hv3', bindingsRemoved: ['vm-hv3'], stopping: true });
    const ms = await flowsGoneOnHv1('hv3');
    figures.push(`  decommission of hv3: peer hv1's flows towards it gone after ${ms} ms`);
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(ms).toBeLessThan(1_000);
    r = await wyvern(['chassis', 'list', '--api', c.api('hv1').api]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/^hv3 /m);
    // The agent exits by itself.
    const t0 = Date.now();
    while (Date.now() - t0 < 5_000 && processAlive(pid)) await new Promise((res) => setTimeout(res, 50));
    expect(processAlive(pid)).toBe(false);
    await c.stopAgent('hv3');
  });

  it('chassis delete --force of a live chassis: peers drop it at once and its running agent does not register again', async () => {
    const r = await wyvern(['chassis', 'delete', 'hv2', '--force', '--api', c.api('hv1').api]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/deleted chassis hv2 \(bindings removed: vm-hv2\)/);
    const ms = await flowsGoneOnHv1('hv2');
    figures.push(`  chassis delete --force of live hv2: peer hv1's flows towards it gone after ${ms} ms`);
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(ms).toBeLessThan(1_000);
    await new Promise((res) => setTimeout(res, 1_500));
    const names = ((await c.api('hv1').call('GET', '/v1/chassis')) as { name: string }[]).map((x) => x.name);
    expect(names).not.toContain('hv2');
    expect((await c.agentStatus('hv2')).retired).toMatchObject({ name: 'hv2' });
    // Starting its agent again is commissioning it: back in service, its VM reachable.
    await c.stopAgent('hv2');
    await c.startAgent('hv2');
    expect(await c.pingUntil('vm-hv1', ports['vm-hv2']!.ip, 5_000)).toBeGreaterThanOrEqual(0);
  });
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
