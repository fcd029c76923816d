import { describe, expect, it } from 'vitest';
import { Uuid, type Row } from '../../src/ovsdb/datum.js';
import { physnetsDown, uplinkStates, type Rows } from '../../src/agent/uplink-health.js';

/** An Open_vSwitch monitor's rows: bridges of ports of interfaces, each interface [name, type, link_state?]. */
function db(bridges: Record<string, [string, string, string?][][]>): Rows {
  const tables: Record<string, Map<string, Row>> = { Bridge: new Map(), Port: new Map(), Interface: new Map() };
  let n = 0;
  const id = () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  for (const [name, ports] of Object.entries(bridges)) {
    const portIds: Uuid[] = [];
    for (const ifaces of ports) {
      const ifIds = ifaces.map(([iname, type, state]) => {
        const u = id();
        tables.Interface!.set(u, { name: iname, type, ...(state ? { link_state: [state] } : { link_state: [] }) });
        return new Uuid(u);
      });
      const p = id();
      tables.Port!.set(p, { name: ifaces[0]![0], interfaces: ifIds.length === 1 ? ifIds[0]! : ifIds });
      portIds.push(new Uuid(p));
    }
    tables.Bridge!.set(id(), { name, ports: portIds });
  }
  return { rows: (t) => tables[t] ?? new Map() };
}

const bridge = (uplinks: [string, string, string?][][]): [string, string, string?][][] => [
  [['br-ex', 'internal', 'up']],
  [['patch-br-ex-to-br-int', 'patch', 'up']],
  ...uplinks,
];

describe('uplink health of mapped bridges', () => {
  it('a bridge whose every uplink is down is down; one up (or a bond member up) keeps it up', () => {
    const rows = db({
      'br-ex': bridge([[['eth1', '', 'down']], [['eth2', 'system', 'down']]]),
      'br-vlan': bridge([
        [['eth3', '', 'down']],
        [
          ['bond-a', '', 'down'],
          ['bond-b', '', 'up'],
        ],
      ]),
      'br-int': [[['vm1', '', 'down']]],
    });
    const s = uplinkStates(rows, { physnet1: 'br-ex', physnet2: 'br-vlan' });
    expect(s.get('physnet1')).toEqual({ bridge: 'br-ex', uplinks: { eth1: 'down', eth2: 'down' }, down: true });
    expect(s.get('physnet2')!.down).toBe(false);
    expect([...physnetsDown(s)]).toEqual(['physnet1']);
  });

  it('judges nothing it cannot: no uplink on the bridge (internal, patch and tunnel ports only), a link state not reported yet, a missing bridge', () => {
    const rows = db({
      'br-lab': bridge([[['tun0', 'vxlan', 'down']], [['gnv0', 'geneve', 'down']]]),
      'br-new': bridge([[['eth1', '', undefined]], [['eth2', '', 'down']]]),
    });
    const s = uplinkStates(rows, { lab: 'br-lab', fresh: 'br-new', gone: 'br-missing' });
    expect(s.get('lab')).toEqual({ bridge: 'br-lab', uplinks: {}, down: false });
    expect(s.get('fresh')).toEqual({ bridge: 'br-new', uplinks: { eth1: 'unknown', eth2: 'down' }, down: false });
    expect(s.has('gone')).toBe(false);
    expect(physnetsDown(s).size).toBe(0);
  });
});
