/** A --dhcp VM starts unaddressed; Sandbox.dhcp() leases an address from a DHCP server on the same br-int. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../src/sandbox/index.js';
import { leftovers, requireSandboxPrereqs } from './sandbox-helpers.js';

describe('sandbox DHCP client', () => {
  let sb: Sandbox | undefined;

  beforeAll(async () => {
    requireSandboxPrereqs();
    sb = await Sandbox.up({ hosts: 1 });
  });
  afterAll(async () => {
    await sb?.down();
  });

  it('leases and applies address, router and MTU; down ends the server running in a VM', async () => {
    const s = sb!;
    const hv1 = s.host('hv1');
    await s.addVm('hv1', 'srv', { portId: 'p-srv', ip: '10.5.0.1/24' });
    await s.addVm('hv1', 'cli', { portId: 'p-cli', dhcp: true });
    await hv1.ovs.ofctl(['-O', 'OpenFlow13', 'add-flow', hv1.ovs.mgmtSock(), 'actions=NORMAL']);
    const started = await s.exec('srv', [
      'dnsmasq',
      '--conf-file=/dev/null',
      '--user=root',
      '--interface=eth0',
      '--bind-interfaces',
      '--port=0',
      '--no-ping',
      '--dhcp-range=10.5.0.50,10.5.0.99,255.255.255.0,1h',
      '--dhcp-option=option:router,10.5.0.1',
      '--dhcp-option=option:mtu,1380',
      `--pid-file=${join(s.runDir, 'dnsmasq.pid')}`,
      `--dhcp-leasefile=${join(s.runDir, 'dnsmasq.leases')}`,
    ]);
    expect(started.code, started.stderr).toBe(0);
    const lease = await s.dhcp('cli');
    console.log(`# DHCP lease in ${lease.ms.toFixed(0)} ms: ${lease.ip}/${lease.mask}`);
    expect(lease.ip).toMatch(/^10\.5\.0\.(5\d|[6-9]\d)$/);
    expect(lease).toMatchObject({ mask: 24, router: '10.5.0.1', mtu: 1380, leaseSeconds: 3600 });
    expect((await s.exec('cli', ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'])).stdout).toContain(`${lease.ip}/24`);
    expect((await s.exec('cli', ['ip', 'route', 'show', 'default'])).stdout).toContain('via 10.5.0.1');
    expect((await s.exec('cli', ['ping', '-c1', '-W1', '10.5.0.1'])).code).toBe(0);

    await s.down();
    sb = undefined;
    expect(leftovers(s.prefix, s.runDir)).toEqual({ netns: [], links: [], procs: [] });
  });
});
