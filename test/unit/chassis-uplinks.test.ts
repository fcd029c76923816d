/**
 * A chassis publishes the physnets whose uplinks are all down (Chassis.uplinksDown), so that the other gateway
 * candidates stop ranking it at once (races.ts): the record's codec, and the agent's document of itself.
 */
import { describe, expect, it } from 'vitest';
import { chassisDocument } from '../../src/agent/agent-status.js';
import { loadAgentConfig } from '../../src/agent/config.js';
import { decodeChassis, encodeChassis } from '../../src/model/codec.js';
import { ModelError } from '../../src/model/errors.js';
import { TopologyView } from '../../src/view/topology-view.js';

const base = { name: 'hv1', tunnelIp: '10.0.0.1', encaps: ['vxlan'], version: '1', physnets: ['physnet1', 'physnet2'] };

describe('Chassis.uplinksDown', () => {
  it('round-trips, is absent when none, and refuses what is not a physnet name', () => {
    expect(decodeChassis(encodeChassis({ ...base, uplinksDown: ['physnet1'] })).uplinksDown).toEqual(['physnet1']);
    expect(decodeChassis(encodeChassis(base))).not.toHaveProperty('uplinksDown');
    expect(() => decodeChassis({ ...base, uplinksDown: ['bad name'] })).toThrow(ModelError);
    expect(() => decodeChassis({ ...base, uplinksDown: 'physnet1' })).toThrow(ModelError);
  });

  it("the agent's chassis document lists its down physnets, sorted, and nothing while all are up", () => {
    const cfg = loadAgentConfig(
      ['--tunnel-ip', '10.0.0.1', '--config', '/dev/null', '--bridge-mapping', 'physnet1:br-ex,physnet2:br-vlan'],
      {},
      'hv1',
    );
    const view = new TopologyView('hv1', 'vxlan');
    expect(chassisDocument(cfg, view)).not.toHaveProperty('uplinksDown');
    view.physnetsDown.add('physnet2');
    view.physnetsDown.add('physnet1');
    const doc = chassisDocument(cfg, view);
    expect(doc.uplinksDown).toEqual(['physnet1', 'physnet2']);
    expect(decodeChassis(encodeChassis(doc)).uplinksDown).toEqual(['physnet1', 'physnet2']);
  });
});
