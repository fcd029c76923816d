/** The l3 flows that send to the agent say why (opcode in the controller userdata), so the handler is told. */
import { describe, expect, it } from 'vitest';
import { l3App, L3_PRIORITY } from '../../src/apps/l3/index.js';
import type { Action } from '../../src/openflow/index.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables, type DesiredFlow } from '../../src/pipeline/tables.js';
import { TopologyView } from '../../src/view/index.js';

const tables = new PipelineTables(loadPipeline());

function view(): TopologyView {
  const v = new TopologyView('hv1', 'vxlan');
  v.networks.set('n1', { network: { id: 'n1', name: 'n1', tunnelKey: 1, mtu: 1450 }, subnets: new Map(), ports: new Map() });
  v.routers.set('r1', {
    id: 'r1',
    name: 'r1',
    routerKey: 7,
    mac: '02:aa:00:00:00:01',
    mode: 'reactive',
    routes: [],
    interfaces: [{ subnetId: 'n1s', networkId: 'n1', ip: '10.1.0.1', mac: '02:aa:00:00:01:01' }],
  });
  return v;
}

const opcodeOf = (f: DesiredFlow): string | undefined => {
  const apply = f.instructions.find((i) => i.type === 'apply_actions') as { actions: Action[] } | undefined;
  const c = apply?.actions.find((a) => a.type === 'controller') as { userdata?: Buffer } | undefined;
  return c?.userdata ? tables.opcodeById(c.userdata.readUInt16BE(0))?.name : undefined;
};

describe('l3 flows to the agent carry their opcode', () => {
  it('TTL expiring, the router address and the route miss each carry their own', () => {
    const v = view();
    const flows = l3App.networkFlows!(tables.forApp('l3'), v, v.networks.get('n1')!);
    const byPriority = (p: number) => flows.filter((f) => f.priority === p).map(opcodeOf);
    expect(byPriority(L3_PRIORITY.ttlExpired)).toEqual(['l3_ttl_expired', 'l3_ttl_expired']);
    expect(byPriority(L3_PRIORITY.routerAddress)).toEqual(['l3_router_address']);
    expect(byPriority(L3_PRIORITY.toAgent)).toEqual(['l3_route_miss']);
    // No flow sends to the agent without saying why.
    for (const f of flows) {
      const apply = f.instructions.find((i) => i.type === 'apply_actions') as { actions: Action[] } | undefined;
      if (apply?.actions.some((a) => a.type === 'controller' || (a.type === 'output' && a.port === 'controller')))
        expect(opcodeOf(f)).toBeDefined();
    }
  });

  it('a packet for the router itself is answered whatever its TTL: its flow outranks the TTL flows', () => {
    expect(L3_PRIORITY.routerAddress).toBeGreaterThan(L3_PRIORITY.ttlExpired);
    expect(L3_PRIORITY.ttlExpired).toBeGreaterThan(L3_PRIORITY.host);
  });
});
