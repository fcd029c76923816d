import { describe, expect, it } from 'vitest';
import { TopologySync } from '../../src/view/topology-sync.js';
import { TopologyView } from '../../src/view/topology-view.js';
import { bindingKey, chassisKey, networkKey, portKey } from '../../src/model/keys.js';
import { silentLogger } from '../../src/util/log.js';
import type { KeyValue } from '../../src/store/types.js';

const kv = (key: string, value: unknown): KeyValue => ({ key, value: JSON.stringify(value), createRevision: 1, modRevision: 1 });
const port = (id: string) => ({ id, name: id, networkId: 'n1', mac: '02:00:00:00:00:01', fixedIps: [], portSecurity: true, allowedAddressPairs: [], portKey: 1 });

function make(lazy: boolean) {
  const view = new TopologyView('hv1', 'vxlan');
  const added: string[] = [];
  const sync = new TopologySync(view, { add: (p) => void added.push(p), remove: () => undefined, prefixes: () => added }, silentLogger, lazy);
  return { view, sync, added };
}

describe('TopologySync', () => {
  it('adopts a binding listed before its port (etcd range order: bindings/ < ports/)', async () => {
    const { view, sync } = make(true);
    await sync.want('n1', 'vm');
    sync.applySnapshot(networkKey('n1'), [kv(networkKey('n1'), { id: 'n1', name: 'n1', tunnelKey: 5, mtu: 1500 })]);
    sync.applySnapshot('/wyvern/v1/net/n1/', [
      kv(bindingKey('n1', 'p1'), { chassis: 'hv2', updatedAt: '' }),
      kv(portKey('n1', 'p1'), port('p1')),
    ]);
    expect(view.networks.get('n1')!.ports.get('p1')!.binding?.chassis).toBe('hv2');
  });

  it('a resync replaces what it had: keys missing from the new snapshot are deleted', async () => {
    const { view, sync } = make(true);
    await sync.want('n1', 'vm');
    sync.applySnapshot(networkKey('n1'), [kv(networkKey('n1'), { id: 'n1', name: 'n1', tunnelKey: 5, mtu: 1500 })]);
    sync.applySnapshot('/wyvern/v1/net/n1/', [kv(portKey('n1', 'p1'), port('p1')), kv(portKey('n1', 'p2'), port('p2'))]);
    sync.applySnapshot('/wyvern/v1/net/n1/', [kv(portKey('n1', 'p2'), port('p2'))]);
    expect([...view.networks.get('n1')!.ports.keys()]).toEqual(['p2']);
    sync.applySnapshot('/wyvern/v1/chassis/', [kv(chassisKey('hv2'), { name: 'hv2', tunnelIp: '1.1.1.2', encaps: ['vxlan'], version: '1' })]);
    sync.applySnapshot('/wyvern/v1/chassis/', []);
    expect(view.chassis.size).toBe(0);
  });

  it('reports which networks changed, and everything for chassis changes', () => {
    const { sync } = make(false);
    const seen: unknown[] = [];
    sync.on('change', (c) => seen.push(c));
    sync.applyPut(portKey('n1', 'p1'), JSON.stringify(port('p1')));
    sync.applyPut(chassisKey('hv3'), JSON.stringify({ name: 'hv3', tunnelIp: '1.1.1.3', encaps: ['vxlan'], version: '1' }));
    expect(seen).toEqual([
      { networks: new Set(['n1']), all: false },
      { networks: new Set(), all: true },
    ]);
  });

  it('a binding that does not move its port (own binding of a local VIF, same chassis again) changes nothing', () => {
    const { view, sync } = make(false);
    sync.applyPut(chassisKey('hv2'), JSON.stringify({ name: 'hv2', tunnelIp: '1.1.1.2', encaps: ['vxlan'], version: '1' }));
    sync.applyPut(portKey('n1', 'p1'), JSON.stringify(port('p1')));
    sync.applyPut(portKey('n1', 'p2'), JSON.stringify({ ...port('p2'), portKey: 2 }));
    view.plugVif({ ifaceName: 't1', ofport: 5, ifaceId: 'p1' });
    const seen: unknown[] = [];
    sync.on('change', (c) => seen.push(c));
    sync.applyPut(bindingKey('n1', 'p1'), JSON.stringify({ chassis: 'hv1', updatedAt: 'a' })); // local VIF: stays local
    sync.applyPut(bindingKey('n1', 'p2'), JSON.stringify({ chassis: 'hv2', updatedAt: 'a' })); // unknown -> hv2
    sync.applyPut(bindingKey('n1', 'p2'), JSON.stringify({ chassis: 'hv2', updatedAt: 'b' })); // rewritten, same place
    expect(seen).toEqual([{ networks: new Set(['n1']), all: false }]);
    sync.applyDelete(bindingKey('n1', 'p1')); // still local
    sync.applyDelete(bindingKey('n1', 'p2')); // hv2 -> unknown
    expect(seen.length).toBe(2);
    expect(view.networks.get('n1')!.ports.get('p1')!.binding).toBeUndefined();
  });

  it('lazy: forgets a network when its last reason goes', async () => {
    const { view, sync } = make(true);
    await sync.want('n1', 'a');
    await sync.want('n1', 'b');
    sync.applyPut(networkKey('n1'), JSON.stringify({ id: 'n1', name: 'n1', tunnelKey: 5, mtu: 1500 }));
    await sync.unwant('n1', 'a');
    expect(view.networks.has('n1')).toBe(true);
    await sync.unwant('n1', 'b');
    expect(view.networks.has('n1')).toBe(false);
  });
});
