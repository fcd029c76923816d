/**
 * Golden flows of north-south NAT (issue 14), printed as `ovs-ofctl dump-flows` prints them: the NAT tables and
 * the gateway router's l3 flows on hv1 for each path — FIP on the port chassis, SNAT active here, SNAT tunnelled
 * to the active chassis, VLAN segment. Regenerate with `npx vitest run test/unit/nat-golden.test.ts -u` and read
 * the diff.
 */
import { describe, expect, it } from 'vitest';
import { FlowComputer } from '../../src/agent/compute.js';
import { APPS } from '../../src/apps/index.js';
import { FlowManager } from '../../src/flows/manager.js';
import { formatFlow } from '../../src/openflow/index.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { FakeSwitch } from '../helpers/fake-switch.js';
import { natView } from '../helpers/nat-topology.js';

const tables = new PipelineTables(loadPipeline());

function dump(view: ReturnType<typeof natView>): string {
  const flows = new FlowComputer(tables, APPS, view, new FlowManager(new FakeSwitch())).fullRecompute();
  const app = (c: bigint) => tables.decodeCookie(c).app;
  return (
    flows
      .filter((f) => app(f.cookie) === 'nat' || (f.table === 'l3_router' && f.priority !== 0))
      .map((f) => formatFlow(f).replace(/^cookie=0x[0-9a-f]+, /, `${app(f.cookie)}: `))
      .sort()
      .join('\n') + '\n'
  );
}

describe('NAT golden flows (hv1)', () => {
  it('gateway active here, FIP on a local port (flat)', async () => {
    await expect(dump(natView({ active: 'hv1' }))).toMatchFileSnapshot('../golden/nat/active-here-flat.txt');
  });
  it('gateway active on hv2 (SNAT tunnelled), FIP on a local port (VLAN 42)', async () => {
    await expect(dump(natView({ active: 'hv2', vlan: 42 }))).toMatchFileSnapshot('../golden/nat/active-hv2-vlan.txt');
  });
  it('no FIP, no active chassis', async () => {
    await expect(dump(natView({ fip: false }))).toMatchFileSnapshot('../golden/nat/no-fip-no-gateway.txt');
  });
});
