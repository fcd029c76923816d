/**
 * Issue 15 on real OVS and etcd: VIFs plugged the way libvirt and XAPI plug them bind to ports created with the
 * hypervisor's id, and pass traffic across two hosts.
 *  - libvirt (virNetDevOpenvswitchAddPort): one add-port transaction setting attached-mac, iface-id (the
 *    domain XML's <virtualport><parameters interfaceid=…/>), vm-id (the domain uuid) and iface-status=active.
 *  - XAPI (XCP-ng / XenServer): the vif hotplug script adds the port with attached-mac, xs-network-uuid,
 *    xs-vif-uuid and xs-vm-uuid; ovs-xapi-sync then sets iface-id to the VIF uuid in a second transaction.
 * A VIF whose attached-mac is not its port's MAC is refused (listed in agent status), and binds once the port is
 * re-created with the VM's MAC.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxCommand } from '../../src/cli/sandbox.js';
import { Sandbox } from '../../src/sandbox/index.js';
import { Cluster } from '../helpers/cluster.js';

const LIBVIRT_MAC = '52:54:00:3a:1b:7c';
const XAPI_MAC = 'b6:2f:4e:91:c0:5d';

interface PortBody {
  id: string;
  name: string;
  mac: string;
  binding?: { chassis: string };
}

describe('hypervisor VIFs on real OVS: libvirt and XAPI external_ids bind by port id', () => {
  let c: Cluster;
  const kvmPort = randomUUID(); // libvirt's interfaceid
  const domain = randomUUID(); // libvirt's domain uuid (vm-id)
  const xenVif = randomUUID(); // XAPI's VIF uuid
  const xenVm = randomUUID();
  const xenNet = randomUUID();

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 2 });
    await c.network('net', '10.0.0.0/24');
  }, 60_000);

  afterAll(async () => {
    await c?.down();
  });

  const externalIds = async (vm: string): Promise<Record<string, string>> => {
    const v = c.sb.vm(vm);
    const out = await c.sb.host(v.host).ovs.vsctl(['--format=json', 'get', 'Interface', v.ifname, 'external_ids']);
    // ovs-vsctl prints the map as {k="v", …}: parse it into an object, dropping wyvern's own mark.
    const ids: Record<string, string> = {};
    for (const m of out.matchAll(/"?([\w-]+)"?="?([^",}]*)"?/g)) ids[m[1]!] = m[2]!;
    delete ids['wyvern-installed'];
    return ids;
  };

  it('binds a libvirt VIF and an XAPI VIF to ports created with their ids; they ping across hosts', async () => {
    const api = c.api();
    const kvm = await api.call<PortBody>('POST', '/v1/ports', {
      id: kvmPort,
      name: 'kvm-vm',
      network: 'net',
      mac: LIBVIRT_MAC,
      fixedIps: [{ ip: '10.0.0.11' }],
    });
    expect(kvm.id).toBe(kvmPort);
    const xen = await api.call<PortBody>('POST', '/v1/ports', {
      id: xenVif.toUpperCase(), // stored lowercase, as XAPI writes it
      name: 'xen-vm',
      network: 'net',
      mac: XAPI_MAC,
      fixedIps: [{ ip: '10.0.0.12' }],
    });
    expect(xen.id).toBe(xenVif);

    const libvirtIds = { 'attached-mac': LIBVIRT_MAC, 'iface-id': kvmPort, 'vm-id': domain, 'iface-status': 'active' };
    await c.sb.addVm('hv1', 'kvm', { portId: kvmPort, mac: LIBVIRT_MAC, ip: '10.0.0.11/24', externalIds: libvirtIds });
    const xapiIds = { 'attached-mac': XAPI_MAC, 'xs-network-uuid': xenNet, 'xs-vif-uuid': xenVif, 'xs-vm-uuid': xenVm };
    await c.sb.addVm('hv2', 'xen', { portId: xenVif, mac: XAPI_MAC, ip: '10.0.0.12/24', externalIds: xapiIds });
    // ovs-xapi-sync: iface-id := xs-vif-uuid (unless the VIF's other_config:nicira-iface-id says otherwise).
    const xv = c.sb.vm('xen');
    await c.sb.host('hv2').ovs.vsctl(['set', 'Interface', xv.ifname, `external-ids:"iface-id"="${xenVif}"`]);

    await c.waitInstalled('kvm');
    await c.waitInstalled('xen');
    expect(await externalIds('kvm')).toEqual(libvirtIds);
    expect(await externalIds('xen')).toEqual({ ...xapiIds, 'iface-id': xenVif });
    expect(await c.pingUntil('kvm', '10.0.0.12', 10_000)).toBeGreaterThanOrEqual(0);
    expect(await c.ping('xen', '10.0.0.11')).toBe(true);
    expect((await api.call<PortBody>('GET', `/v1/ports/${kvmPort}`)).binding?.chassis).toBe('hv1');
    expect((await api.call<PortBody>('GET', '/v1/ports/xen-vm')).binding?.chassis).toBe('hv2');
    const bound = (await c.agentStatus('hv1')).boundPorts as { portId: string }[];
    expect(bound.map((b) => b.portId)).toEqual([kvmPort]);
  });

  it('a VIF whose attached-mac is not its port MAC stays unbound and shows in status; the fixed port binds it', async () => {
    const api = c.api();
    const badId = randomUUID();
    await api.call('POST', '/v1/ports', {
      id: badId,
      name: 'bad-vm',
      network: 'net',
      mac: '52:54:00:00:00:99',
      fixedIps: [{ ip: '10.0.0.13' }],
    });
    const vmMac = '52:54:00:00:00:98';
    await c.sb.addVm('hv1', 'bad', {
      portId: badId,
      mac: vmMac,
      ip: '10.0.0.13/24',
      externalIds: { 'attached-mac': vmMac, 'iface-id': badId, 'vm-id': randomUUID(), 'iface-status': 'active' },
    });
    const refused = async () => (await c.agentStatus('hv1')).refusedVifs as { iface: string; ifaceId: string; reason: string }[];
    const t0 = Date.now();
    while ((await refused()).length === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(await refused()).toEqual([
      expect.objectContaining({ iface: c.sb.vm('bad').ifname, ifaceId: badId, port: 'bad-vm', reason: expect.stringContaining(vmMac) }),
    ]);
    expect((await api.call<PortBody>('GET', `/v1/ports/${badId}`)).binding).toBeUndefined();
    expect(await c.ping('kvm', '10.0.0.13', 0.5)).toBe(false);

    // The operator fixes the port: re-created under the same id with the VM's MAC.
    await api.call('DELETE', `/v1/ports/${badId}`);
    await api.call('POST', '/v1/ports', { id: badId, name: 'bad-vm', network: 'net', mac: vmMac, fixedIps: [{ ip: '10.0.0.13' }] });
    await c.waitInstalled('bad');
    expect(await c.pingUntil('xen', '10.0.0.13', 10_000)).toBeGreaterThanOrEqual(0);
    expect(await refused()).toEqual([]);
    expect((await api.call<PortBody>('GET', '/v1/ports/bad-vm')).binding?.chassis).toBe('hv1');
  });

  it('wyvern sandbox vm add gives the VM its port MAC, refuses a different --mac, and notes a port it cannot find', async () => {
    const api = c.api();
    const cli = async (...argv: string[]) => {
      let out = '';
      let err = '';
      const code = await sandboxCommand(['--name', c.sb.name, ...argv], { out: (x) => (out += x), err: (x) => (err += x) });
      return { code, out, err };
    };
    const p = await api.call<PortBody>('POST', '/v1/ports', { name: 'cli-vm', network: 'net', fixedIps: [{ ip: '10.0.0.14' }] });
    const wrong = await cli('vm', 'add', 'hv2', 'clivm', '--port-id', 'cli-vm', '--mac', '52:54:00:00:00:01', '--store', c.storeUrl);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain(`is not port cli-vm's MAC ${p.mac}`);
    // The CLI works on the sandbox's state file: VMs it adds are removed through it too (c.sb does not know them).
    try {
      const ok = await cli('vm', 'add', 'hv2', 'clivm', '--port-id', 'cli-vm', '--ip', '10.0.0.14/24', '--store', c.storeUrl);
      expect(ok.code, ok.err).toBe(0);
      expect(ok.err).toBe('');
      expect(ok.out).toContain(`mac ${p.mac}`);
      const vm = (await Sandbox.load(c.sb.name)).vm('clivm');
      expect(vm.mac).toBe(p.mac);
      const t0 = Date.now();
      while (!(await c.sb.host('hv2').ovs.vsctl(['get', 'Interface', vm.ifname, 'external_ids'])).includes('wyvern-installed')) {
        if (Date.now() - t0 > 10_000) throw new Error('clivm: not installed');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await c.pingUntil('kvm', '10.0.0.14', 10_000)).toBeGreaterThanOrEqual(0);
      const ghost = await cli('vm', 'add', 'hv2', 'ghost', '--port-id', 'ghost', '--store', c.storeUrl);
      expect(ghost.code, ghost.err).toBe(0);
      expect(ghost.err).toContain('note: port ghost does not exist (yet)');
      expect(ghost.err).toContain(`--mac ${(await Sandbox.load(c.sb.name)).vm('ghost').mac}`);
    } finally {
      await cli('vm', 'del', 'ghost');
      await cli('vm', 'del', 'clivm');
    }
  });

  it('a full recompute on each host yields exactly the installed flows', async () => {
    for (const h of ['hv1', 'hv2']) {
      const r = (await c.api(h).call('POST', '/v1/agent/recompute')) as Record<string, unknown>;
      expect(r.incremental).toEqual({ equal: true, missing: [], extra: [], different: [] });
      expect(r.switch).toEqual({ equal: true, missing: [], extra: [], different: [] });
    }
  });
});
