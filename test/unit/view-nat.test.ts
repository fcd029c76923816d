/** North-south view queries (issue 14): which networks lazy sync needs for NAT, local FIPs, active gateways. */
import { describe, expect, it } from 'vitest';
import { gatewayActiveHere, gatewayCandidacyNetworks, gatewayDependents, localFips, routedNeighbours } from '../../src/view/index.js';
import { IDS, natView } from '../helpers/nat-topology.js';

describe('north-south view queries', () => {
  it('a router network reaches its gateway network; the gateway network depends on the router networks', () => {
    const v = natView({ active: 'hv1' });
    expect([...routedNeighbours(v, IDS.n1)]).toEqual([IDS.ext]);
    expect([...gatewayDependents(v, IDS.ext)]).toEqual([IDS.n1]);
    expect([...gatewayDependents(v, IDS.n1)]).toEqual([]);
  });

  it('a candidate watches the gateway network and the router networks; others nothing for it', () => {
    const v = natView({});
    expect([...gatewayCandidacyNetworks(v, 'hv1')].sort()).toEqual([IDS.n1, IDS.ext].sort());
    expect([...gatewayCandidacyNetworks(v, 'hv9')]).toEqual([]);
  });

  it('local FIPs need the port here and the physnet mapped; the gateway is active here only with the lease and the physnet', () => {
    const v = natView({ active: 'hv1' });
    const r = v.routers.get(IDS.r1)! as Parameters<typeof localFips>[1];
    expect(localFips(v, r).map((f) => f.ip)).toEqual(['203.0.113.50']);
    expect(gatewayActiveHere(v, r)).toBe(true);
    v.physnetOfports.clear();
    expect(localFips(v, r)).toEqual([]);
    expect(gatewayActiveHere(v, r)).toBe(false);
    const w = natView({ active: 'hv2' });
    expect(gatewayActiveHere(w, w.routers.get(IDS.r1)! as Parameters<typeof localFips>[1])).toBe(false);
  });
});
