/**
 * Issue 11, requirement 2 on real OVS and etcd: hv1 offers geneve then vxlan, hv2 only vxlan, hv3 only gre.
 * hv1 and hv2 meet on vxlan and their VMs ping both ways; hv3 shares nothing with either and is reported
 * unreachable (agent status, chassis list through an agent's API, one log warning) instead of silently
 * getting no flows.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentOf, wyvernCommand } from '../../src/sandbox/agents.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';

function wyvern(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, ...pre] = wyvernCommand();
  return new Promise((resolve) => {
    execFile(cmd!, [...pre, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('several encapsulations per chassis', () => {
  let c: Cluster;
  const ports: Record<string, PortInfo> = {};

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 3, agents: false });
    await c.startAgent('hv1', { args: ['--encap', 'geneve,vxlan'] });
    await c.startAgent('hv2');
    await c.startAgent('hv3', { args: ['--encap', 'gre'] });
    await c.network('net-a', '10.0.0.0/24');
    for (const [i, host] of ['hv1', 'hv2', 'hv3'].entries()) {
      ports[`vm-${host}`] = await c.port(`vm-${host}`, 'net-a', `10.0.0.${11 + i}`);
      await c.vm(host, `vm-${host}`, ports[`vm-${host}`]!);
    }
  });

  afterAll(async () => {
    await c?.down();
  });

  it('hv1 has one tunnel port per offered encap and registers them in its preference order', async () => {
    const listed = (await c.api('hv2').call('GET', '/v1/chassis/hv1')) as { encaps: string[] };
    expect(listed.encaps).toEqual(['geneve', 'vxlan']);
    const out = await c.sb.host('hv1').ovs.vsctl(['list-ports', 'br-int']);
    expect(out).toMatch(/tun-geneve/);
    expect(out).toMatch(/tun-vxlan/);
  });

  it('hv1 (geneve,vxlan) and hv2 (vxlan) ping both ways, hv1 sending on its vxlan port', async () => {
    expect(await c.pingUntil('vm-hv1', ports['vm-hv2']!.ip, 5_000)).toBeGreaterThanOrEqual(0);
    expect(await c.pingUntil('vm-hv2', ports['vm-hv1']!.ip, 5_000)).toBeGreaterThanOrEqual(0);
    const hv1 = c.sb.host('hv1');
    const vxlan = (await hv1.ovs.vsctl(['get', 'Interface', 'tun-vxlan', 'ofport'])).trim();
    const flows = await hv1.ovs.ofctl(['-O', 'OpenFlow13', 'dump-flows', hv1.ovs.mgmtSock()]);
    expect(flows).toContain(`${c.sb.host('hv2').tunnelIp}->tun_dst,output:${vxlan}`);
  });

  it('hv3 (gre only) is unreachable, and said so in agent status, chassis list and once in the log', async () => {
    expect(await c.ping('vm-hv2', ports['vm-hv3']!.ip, 0.5)).toBe(false);
    const s2 = await c.agentStatus('hv2');
    expect(s2.unreachableChassis).toEqual([{ name: 'hv3', encaps: ['gre'], reason: 'encap gre, this host speaks vxlan' }]);
    const s1 = await c.agentStatus('hv1');
    expect(s1.unreachableChassis).toEqual([{ name: 'hv3', encaps: ['gre'], reason: 'encap gre, this host speaks geneve,vxlan' }]);
    expect(s1.encaps).toEqual(['geneve', 'vxlan']);

    const r = await wyvern(['chassis', 'list', '--api', c.api('hv2').api]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+TUNNEL-IP\s+ENCAPS\s+SITE\s+VERSION\s+ALIVE\s+REACHABLE/);
    expect(r.stdout).toMatch(/^hv1\s+\S+\s+geneve,vxlan\s+default\s+\S+\s+yes\s+yes\s*$/m);
    expect(r.stdout).toMatch(/^hv2\s.*yes \(self\)\s*$/m);
    expect(r.stdout).toMatch(/^hv3\s+\S+\s+gre\s+default\s+\S+\s+yes\s+no \(encap gre, this host speaks vxlan\)\s*$/m);

    // More chassis events and recomputes do not repeat the warning.
    await c.api('hv2').call('POST', '/v1/agent/recompute');
    await c.stopAgent('hv1');
    await c.startAgent('hv1', { args: ['--encap', 'geneve,vxlan'] });
    const log = await readFile(agentOf(c.sb.host('hv2'))!.log, 'utf8');
    const warnings = log.split('\n').filter((l) => l.includes('"chassis":"hv3"') && l.includes('chassis unreachable'));
    expect(warnings.length).toBe(1);
  });
});
