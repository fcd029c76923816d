/**
 * An app that builds one flow the pipeline's guard refuses does not lose its other flows: the agent's flow
 * computation defers the refusal to the flow manager, which sets that flow aside alone (issue 12).
 */
import { describe, expect, it } from 'vitest';
import { FlowComputer } from '../../src/agent/compute.js';
import type { App } from '../../src/apps/platform.js';
import { FlowManager } from '../../src/flows/manager.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { FlowGuardError } from '../../src/pipeline/guard.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { TopologyView } from '../../src/view/topology-view.js';
import { FakeSwitch } from '../helpers/fake-switch.js';

const tables = new PipelineTables(loadPipeline());

/** An l2 app whose second flow writes a field its table may not set (ipv4_dst). */
const sloppy: App = {
  name: 'l2',
  tables: ['l2_lookup', 'egress'],
  networkFlows(t, _view, net) {
    const l2 = t.table('l2_lookup');
    const md = { field: t.reg('network'), value: BigInt(net.network.tunnelKey) };
    return [1, 2, 3].map((k) =>
      l2.flow({
        priority: 100,
        match: [md, { field: 'eth_dst', value: `02:00:00:00:00:0${k}` }],
        actions: [{ type: 'set_field', field: k === 2 ? 'ipv4_dst' : 'reg7', value: k === 2 ? '10.0.0.9' : k }],
        goto: 'egress',
        object: k,
      }),
    );
  },
  create: () => ({}),
};

describe('a flow the guard refuses inside an app', () => {
  it('is set aside alone: the app’s other flows are installed, the refusal counted once per build', async () => {
    const view = new TopologyView('hv1', 'vxlan');
    view.networks.set('n1', { network: { id: 'n1', name: 'n', tunnelKey: 5, mtu: 1500 }, subnets: new Map(), ports: new Map() });
    const sw = new FakeSwitch();
    const fm = new FlowManager(sw, { check: (f) => tables.check(f) });
    sw.connect();
    await fm.activate();
    const refused: FlowGuardError[] = [];
    const fc = new FlowComputer(tables, [sloppy], view, fm, (e) => refused.push(e));
    fc.markDirty('n1');
    const v = fc.flush();
    await fm.sync();
    await fm.whenApplied(v);
    const eths = [...sw.flows.values()].filter((f) => f.tableId === tables.id('l2_lookup') && f.priority === 100);
    expect(eths).toHaveLength(2);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(FlowGuardError);
    expect(fm.stats.rejectedFlows).toBe(1);
    // Without deferral (tools, tests) the builder still throws at once.
    expect(() => sloppy.networkFlows!(tables.forApp('l2'), view, view.networks.get('n1')!)).toThrow(FlowGuardError);
  });
});
