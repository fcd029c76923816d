/**
 * Several encapsulations per chassis (issue 11): towards each peer the first of this chassis's encaps (its
 * preference order) that the peer offers; a peer sharing none is reported (status, log once per change) and
 * gets no flows. Flows are checked on the fake switch after the flow manager installed them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APPS } from '../../src/apps/index.js';
import { FlowComputer } from '../../src/agent/compute.js';
import { parseEncaps, ConfigError, loadAgentConfig } from '../../src/agent/config.js';
import { bulkiestEncap } from '../../src/apps/dhcp/index.js';
import { chooseEncap, reachability, ReachabilityLog, unreachableChassis } from '../../src/agent/encap.js';
import { TopologyView } from '../../src/view/topology-view.js';
import { FlowManager } from '../../src/flows/manager.js';
import type { Chassis, Port } from '../../src/model/types.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import type { Logger } from '../../src/util/log.js';
import { FakeOFTable } from '../helpers/fake-of-table.js';
import { FakeSwitch } from '../helpers/fake-switch.js';

const tables = new PipelineTables(loadPipeline());
const GENEVE = 10;
const VXLAN = 11;

const chassis = (name: string, n: number, encaps: string[]): Chassis => ({ name, tunnelIp: `172.31.0.${n}`, encaps, version: 't' });

function port(n: number, host: string): [string, { port: Port; binding: { chassis: string; updatedAt: string } }] {
  const hex = n.toString(16).padStart(2, '0');
  return [
    `p${n}`,
    {
      port: {
        id: `p${n}`,
        name: `vm${n}`,
        networkId: 'n1',
        mac: `02:00:00:00:00:${hex}`,
        fixedIps: [],
        portSecurity: false,
        allowedAddressPairs: [],
        securityGroups: [],
        portKey: n,
      },
      binding: { chassis: host, updatedAt: '' },
    },
  ];
}

/** hv1 offers geneve then vxlan; hv2 vxlan only, hv3 both, hv4 gre only. One port on each. */
function view(): TopologyView {
  const v = new TopologyView('hv1', ['geneve', 'vxlan']);
  v.tunnelOfports.set('geneve', GENEVE);
  v.tunnelOfports.set('vxlan', VXLAN);
  for (const c of [
    chassis('hv1', 1, ['geneve', 'vxlan']),
    chassis('hv2', 2, ['vxlan']),
    chassis('hv3', 3, ['vxlan', 'geneve']),
    chassis('hv4', 4, ['gre']),
  ])
    v.chassis.set(c.name, c);
  v.networks.set('n1', {
    network: { id: 'n1', name: 'n1', tunnelKey: 5, mtu: 1500 },
    subnets: new Map(),
    ports: new Map([port(1, 'hv1'), port(2, 'hv2'), port(3, 'hv3'), port(4, 'hv4')]),
  });
  v.plugVif({ ifaceName: 'tap1', ofport: 1, ifaceId: 'vm1' });
  return v;
}

/** The flows the flow manager installed on the fake switch, as a table packets can be run through. */
async function installed(v: TopologyView): Promise<FakeOFTable> {
  const sw = new FakeSwitch();
  const fm = new FlowManager(sw);
  const computer = new FlowComputer(tables, APPS, v, fm);
  computer.markAllDirty();
  computer.flush();
  sw.connect();
  await fm.activate();
  await fm.sync();
  return sw.table();
}

const MAC = (n: number) => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
const fromVm1 = (dst: string) => ({ in_port: 1, eth_src: MAC(1), eth_dst: dst });
/** Where a packet goes: [port, tunnel destination, key] per output. */
const where = (sw: FakeOFTable, pkt: Record<string, string | number>) =>
  sw.outputs(pkt).map((o) => [o.port, o.packet.tun_ipv4_dst ?? '-', o.packet.tun_id ?? '-']);

describe('encapsulation choice', () => {
  it('takes the first of our encaps the peer offers (our preference, not theirs)', () => {
    expect(chooseEncap(['geneve', 'vxlan'], ['vxlan'])).toBe('vxlan');
    expect(chooseEncap(['geneve', 'vxlan'], ['vxlan', 'geneve'])).toBe('geneve');
    expect(chooseEncap(['vxlan'], ['gre'])).toBeUndefined();
    expect(reachability(['vxlan'], { encaps: ['gre'] })).toEqual({ reachable: false, reason: 'encap gre, this host speaks vxlan' });
    expect(reachability(['geneve', 'vxlan'], { encaps: ['gre'] })).toEqual({
      reachable: false,
      reason: 'encap gre, this host speaks geneve,vxlan',
    });
  });

  it('sizes DHCP MTUs for the bulkiest encap offered', () => {
    expect(bulkiestEncap(['vxlan', 'geneve'])).toBe('geneve');
    expect(bulkiestEncap(['gre', 'vxlan'])).toBe('vxlan');
    expect(bulkiestEncap(['gre'])).toBe('gre');
  });

  it('sends to each peer on the tunnel port of the chosen encap, accepts on every tunnel port, and nothing towards a peer with none in common', async () => {
    const sw = await installed(view());
    // Unicast: to hv2 over vxlan, to hv3 over geneve, with the network's key.
    expect(where(sw, fromVm1(MAC(2)))).toEqual([[VXLAN, '172.31.0.2', 5]]);
    expect(where(sw, fromVm1(MAC(3)))).toEqual([[GENEVE, '172.31.0.3', 5]]);
    // Flood: each remote chassis once, on its own tunnel port; hv4 (gre only) is unreachable and not in it.
    const flood = [
      [VXLAN, '172.31.0.2', 5],
      [GENEVE, '172.31.0.3', 5],
    ];
    expect(where(sw, fromVm1('ff:ff:ff:ff:ff:ff'))).toEqual(flood);
    // No lookup and no egress for vm4 on hv4: its MAC is unknown unicast, flooded like a broadcast, never towards hv4.
    expect(where(sw, fromVm1(MAC(4)))).toEqual(flood);
    // Packets come in on either tunnel port (and not on a port that is neither a tunnel nor a VIF).
    for (const port of [GENEVE, VXLAN]) expect(sw.ports({ in_port: port, tun_id: 5, eth_src: MAC(2), eth_dst: MAC(1) })).toEqual([1]);
    expect(sw.ports({ in_port: 12, tun_id: 5, eth_src: MAC(2), eth_dst: MAC(1) })).toEqual([]);
  });

  it('a single encap keeps one tunnel port and its old flows', async () => {
    const v = new TopologyView('hv1', 'vxlan');
    v.tunnelOfport = VXLAN;
    expect(v.tunnelInPorts()).toEqual([VXLAN]);
    expect(v.encaps).toEqual(['vxlan']);
  });
});

describe('unreachable chassis report', () => {
  it('lists peers sharing no encap with the reason (not itself)', () => {
    const v = view();
    expect(unreachableChassis(v.encaps, 'hv1', v.chassis)).toEqual([
      { name: 'hv4', encaps: ['gre'], reason: 'encap gre, this host speaks geneve,vxlan' },
    ]);
  });

  it('logs one warning per chassis when first seen and when it changes, not per recompute', () => {
    const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
    const logger = {
      warn: (obj: Record<string, unknown>, msg: string) => lines.push({ level: 'warn', obj, msg }),
      info: (obj: Record<string, unknown>, msg: string) => lines.push({ level: 'info', obj, msg }),
    } as unknown as Logger;
    const log = new ReachabilityLog(['vxlan'], 'hv1', logger);
    const peers = new Map([
      ['hv1', chassis('hv1', 1, ['vxlan'])],
      ['hv3', chassis('hv3', 3, ['gre'])],
    ]);
    for (let i = 0; i < 5; i++) log.update(peers);
    expect(lines).toEqual([
      { level: 'warn', obj: { chassis: 'hv3', reason: 'encap gre, this host speaks vxlan' }, msg: expect.stringMatching(/unreachable/) },
    ]);
    peers.set('hv3', chassis('hv3', 3, ['geneve']));
    log.update(peers);
    log.update(peers);
    expect(lines.length).toBe(2);
    expect(lines[1]!.obj.reason).toBe('encap geneve, this host speaks vxlan');
    peers.set('hv3', chassis('hv3', 3, ['geneve', 'vxlan']));
    log.update(peers);
    expect(lines[2]).toMatchObject({ level: 'info', msg: 'chassis reachable again' });
    log.update(peers);
    expect(lines.length).toBe(3);
  });
});

describe('--encap', () => {
  const base = ['--tunnel-ip', '192.0.2.1', '--config', '/dev/null'];
  it('takes one encap or a preference list', () => {
    expect(loadAgentConfig(base, {}, 'h')).toMatchObject({ encap: 'vxlan', encaps: ['vxlan'] });
    expect(loadAgentConfig([...base, '--encap', 'gre'], {}, 'h')).toMatchObject({ encap: 'gre', encaps: ['gre'] });
    expect(loadAgentConfig([...base, '--encap', 'geneve,vxlan'], {}, 'h')).toMatchObject({ encap: 'geneve', encaps: ['geneve', 'vxlan'] });
    expect(loadAgentConfig(base, { WYVERN_ENCAP: 'vxlan, geneve' }, 'h')).toMatchObject({ encaps: ['vxlan', 'geneve'] });
    // A YAML list works as well as a comma-separated string.
    const dir = mkdtempSync(join(tmpdir(), 'wyvern-encap-'));
    try {
      writeFileSync(join(dir, 'agent.yaml'), 'tunnel-ip: 192.0.2.1\nencap: [geneve, vxlan]\n');
      expect(loadAgentConfig(['--config', join(dir, 'agent.yaml')], {}, 'h')).toMatchObject({
        encap: 'geneve',
        encaps: ['geneve', 'vxlan'],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses unknown names, repeats and empty entries with a clear message', () => {
    expect(() => parseEncaps('vxlan,stt')).toThrow(ConfigError);
    expect(() => parseEncaps('vxlan,stt')).toThrow(/not "stt"/);
    expect(() => parseEncaps('vxlan,vxlan')).toThrow(/twice/);
    expect(() => parseEncaps('vxlan,')).toThrow(/not ""/);
  });
});
