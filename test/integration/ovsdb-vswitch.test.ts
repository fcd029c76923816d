import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../src/sandbox/index.js';
import { OvsdbClient } from '../../src/ovsdb/client.js';
import { ensureBridge, ensureTunnelPort, markInstalled, nameTables, waitApplied } from '../../src/ovsdb/vswitch.js';
import { VifWatcher, type Vif } from '../../src/ovsdb/vif-watcher.js';

let sb: Sandbox;
const clients: OvsdbClient[] = [];

beforeAll(async () => {
  sb = await Sandbox.up({ hosts: 3 });
});
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await sb?.down();
});

async function clientFor(host: number): Promise<OvsdbClient> {
  const c = await OvsdbClient.connect(`unix:${sb.hosts[host]!.ovs.dbSock}`);
  clients.push(c);
  return c;
}

function nextEvent(w: VifWatcher, ev: 'plugged' | 'unplugged', name: string): Promise<{ vif: Vif; at: number }> {
  return new Promise((resolve) => {
    const f = (vif: Vif) => {
      if (vif.name !== name) return;
      w.off(ev, f);
      resolve({ vif, at: performance.now() });
    };
    w.on(ev, f);
  });
}

describe('Open_vSwitch helpers on a 3-host sandbox', () => {
  it('reports VM plug and unplug with the ofport within 100 ms, on every host', async () => {
    for (let h = 0; h < 3; h++) {
      const host = sb.hosts[h]!;
      const c = await clientFor(h);
      const w = await VifWatcher.create(c);
      w.start();
      const vmName = `vm${h}`;
      // The sandbox names the VM's port on br-int; learn it from the VM record.
      const pluggedP = new Promise<{ vif: Vif; at: number }>((resolve) => {
        const f = (vif: Vif) => {
          if (vif.ifaceId !== `port-${h}`) return;
          w.off('plugged', f);
          resolve({ vif, at: performance.now() });
        };
        w.on('plugged', f);
      });
      const vm = await sb.addVm(host.name, vmName, { portId: `port-${h}`, ip: `10.9.0.${h + 10}/24` });
      const doneAt = performance.now();
      const plugged = await pluggedP;
      expect(plugged.at - doneAt).toBeLessThan(100);
      expect(plugged.vif.name).toBe(vm.ifname);
      expect(plugged.vif.ifaceId).toBe(`port-${h}`);
      const ofport = Number((await host.ovs.vsctl(['get', 'Interface', vm.ifname, 'ofport'])).trim());
      expect(plugged.vif.ofport).toBe(ofport);
      expect(ofport).toBeGreaterThan(0);
      expect(w.byName(vm.ifname)?.ofport).toBe(ofport);

      await markInstalled(c, vm.ifname, true);
      expect((await host.ovs.vsctl(['get', 'Interface', vm.ifname, 'external_ids:wyvern-installed'])).trim()).toBe('"true"');
      await markInstalled(c, vm.ifname, false);
      expect((await host.ovs.vsctl(['get', 'Interface', vm.ifname, 'external_ids'])).includes('wyvern-installed')).toBe(false);

      const unpluggedP = nextEvent(w, 'unplugged', vm.ifname);
      await sb.delVm(vmName);
      const delAt = performance.now();
      const unplugged = await unpluggedP;
      expect(unplugged.at - delAt).toBeLessThan(100);
      expect(unplugged.vif.ofport).toBe(ofport);
      w.stop();
      await w.db.close();
    }
  });

  it("a VifWatcher survives its host's OVS being killed and restarted (resync, no phantom unplug)", async () => {
    const host = sb.hosts[1]!;
    const c = await clientFor(1);
    const vm = await sb.addVm(host.name, 'vmr', { portId: 'port-r', ip: '10.9.1.10/24' });
    const w = await VifWatcher.create(c);
    w.start();
    const before = w.byName(vm.ifname);
    expect(before?.ofport).toBeGreaterThan(0);
    const events: string[] = [];
    w.on('plugged', (v: Vif) => events.push(`plugged:${v.name}`));
    w.on('unplugged', (v: Vif) => events.push(`unplugged:${v.name}`));
    const resynced = new Promise((r) => w.db.once('resync', r));
    await host.ovs.stop();
    await host.ovs.start();
    await resynced;
    expect(w.byName(vm.ifname)?.ofport).toBe(before!.ofport);
    expect(events.filter((e) => e.endsWith(vm.ifname))).toEqual([]);
    // Still live after the resync.
    const gone = nextEvent(w, 'unplugged', vm.ifname);
    await sb.delVm('vmr');
    expect((await gone).vif.ofport).toBe(before!.ofport);
    w.stop();
    await w.db.close();
  });

  it('ensureBridge is idempotent and keeps edits made by ovs-vsctl between runs', async () => {
    const host = sb.hosts[0]!;
    const c = await clientFor(0);
    const first = await ensureBridge(c, { name: 'br-int', datapathType: 'netdev' });
    await host.ovs.vsctl(['set', 'Bridge', 'br-int', 'external_ids:owner=someone-else', 'other_config:foo=bar', 'fail_mode=standalone']);
    await host.ovs.vsctl(['set', 'Bridge', 'br-int', 'protocols=OpenFlow10,OpenFlow13']);
    const second = await ensureBridge(c, { name: 'br-int', datapathType: 'netdev', protocols: ['OpenFlow13', 'OpenFlow15'] });
    expect(second.uuid).toBe(first.uuid);
    const get = async (col: string) => (await host.ovs.vsctl(['get', 'Bridge', 'br-int', col])).trim();
    expect(await get('external_ids:owner')).toBe('someone-else');
    expect(await get('other_config:foo')).toBe('bar');
    expect(await get('other_config:disable-in-band')).toBe('"true"');
    expect(await get('fail_mode')).toBe('secure');
    expect(await get('protocols')).toBe('[OpenFlow10, OpenFlow13, OpenFlow15]');
    expect(await get('datapath_type')).toBe('netdev');

    // Creation path: a new bridge, made once.
    const a = await ensureBridge(c, { name: 'br-x', datapathType: 'netdev' });
    const b = await ensureBridge(c, { name: 'br-x', datapathType: 'netdev' });
    expect(b.uuid).toBe(a.uuid);
    expect((await host.ovs.vsctl(['list-br'])).split('\n')).toContain('br-x');
    expect(await get('fail_mode')).toBe('secure');
    await host.ovs.vsctl(['del-br', 'br-x']);
  });

  it('nameTables makes ovs-ofctl --names show table names', async () => {
    const host = sb.hosts[1]!;
    const c = await clientFor(1);
    const names = new Map([
      [0, 'classifier'],
      [10, 'l2_lookup'],
    ]);
    await nameTables(c, 'br-int', names);
    await host.ovs.vsctl(['set', 'Bridge', 'br-int', 'external_ids:between=runs']);
    await nameTables(c, 'br-int', names); // second run: no duplicate Flow_Table rows
    await waitApplied(c);
    expect((await host.ovs.vsctl(['--bare', '--columns=_uuid', 'list', 'Flow_Table'])).trim().split(/\s+/)).toHaveLength(2);
    expect((await host.ovs.vsctl(['--bare', '--columns=name', 'list', 'Flow_Table'])).trim().split(/\s+/).sort()).toEqual([
      'classifier',
      'l2_lookup',
    ]);
    expect((await host.ovs.vsctl(['get', 'Bridge', 'br-int', 'external_ids:between'])).trim()).toBe('runs');
    const mgmt = host.ovs.mgmtSock();
    await host.ovs.ofctl(['-O', 'OpenFlow13', 'add-flow', mgmt, 'table=10,priority=5,dl_type=0x0800,actions=drop']);
    const dump = await host.ovs.ofctl(['-O', 'OpenFlow13', '--names', 'dump-flows', mgmt]);
    expect(dump).toMatch(/table="?l2_lookup"?,.*priority=5,ip actions=drop/);
    // Renaming an already named table updates its row in place (ovs-vswitchd 3.1 was seen to keep
    // showing the old name for a renamed row until restarted, so only the database is checked).
    await nameTables(c, 'br-int', new Map([[10, 'l2']]));
    expect((await host.ovs.vsctl(['--bare', '--columns=name', 'list', 'Flow_Table'])).trim().split(/\s+/).sort()).toEqual([
      'classifier',
      'l2',
    ]);
  });

  it('ensureTunnelPort makes one port per encapsulation over two runs and reports its ofport', async () => {
    const host = sb.hosts[2]!;
    const c = await clientFor(2);
    const seen = new Map<string, { name: string; ofport: number }>();
    for (let run = 0; run < 2; run++) {
      for (const type of ['vxlan', 'geneve', 'gre'] as const) {
        const r = await ensureTunnelPort(c, 'br-int', { type, localIp: host.tunnelIp });
        expect(r.ofport).toBeGreaterThan(0);
        if (run === 0) seen.set(type, r);
        else expect(r).toEqual(seen.get(type));
      }
      if (run === 0) await host.ovs.vsctl(['set', 'Interface', seen.get('vxlan')!.name, 'external_ids:note=kept']);
    }
    for (const type of ['vxlan', 'geneve', 'gre']) {
      const names = (await host.ovs.vsctl(['--bare', '--columns=name', 'find', 'Interface', `type=${type}`])).trim().split(/\s+/);
      expect(names).toEqual([seen.get(type)!.name]);
      const opts = (await host.ovs.vsctl(['get', 'Interface', names[0]!, 'options'])).trim();
      expect(opts).toContain('remote_ip=flow');
      expect(opts).toContain('key=flow');
      expect(opts).toContain(`local_ip="${host.tunnelIp}"`);
      const ofport = Number((await host.ovs.vsctl(['get', 'Interface', names[0]!, 'ofport'])).trim());
      expect(ofport).toBe(seen.get(type)!.ofport);
    }
    expect((await host.ovs.vsctl(['get', 'Interface', seen.get('vxlan')!.name, 'external_ids:note'])).trim()).toBe('kept');
  });
});
