/**
 * Conntrack zones keep networks with overlapping CIDRs apart (issue 13): networks red and blue are both
 * 10.0.0.0/24 with the same addresses on the same hosts. red's `srv` admits TCP 80 and UDP 53 from red's clients, which admit UDP 7001;
 * blue's `srv` admits nothing. While red's client holds connections to red's server, blue's client sends the very
 * same 5-tuples (same source port) to blue's server: each port has its own zone, so blue's packets are new there
 * and refused, never taken for red's established connections; nor is a packet shaped like the reply of a
 * connection red's server opened. (Remote-group matches compare addresses only, as OVN's address sets do:
 * docs/security-groups.md.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { createGroup, setPortGroups } from '../helpers/sg-api.js';
import { VmTraffic } from '../helpers/vm-traffic.js';

describe('security groups with overlapping CIDRs in two networks', () => {
  let c: Cluster;
  let t: VmTraffic;
  const ports: Record<string, PortInfo> = {};

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 2 });
    t = new VmTraffic(c.sb);
    const api = c.api();
    for (const net of ['red', 'blue']) await c.network(net, '10.0.0.0/24');
    const redClients = await createGroup(api, 'red-clients', [{ direction: 'ingress', protocol: 'udp', portMin: 7001, portMax: 7001 }]);
    const redSrv = await createGroup(api, 'red-srv', [
      { direction: 'ingress', protocol: 'tcp', portMin: 80, portMax: 80, remoteGroupId: redClients.id },
      { direction: 'ingress', protocol: 'udp', portMin: 53, portMax: 53, remoteGroupId: redClients.id },
    ]);
    const blueSrv = await createGroup(api, 'blue-srv');
    const plan: [string, string, string, string, string | undefined][] = [
      ['red-srv', 'red', 'hv1', '10.0.0.10', redSrv.id],
      ['blue-srv', 'blue', 'hv1', '10.0.0.10', blueSrv.id],
      ['red-cli', 'red', 'hv2', '10.0.0.20', redClients.id],
      ['blue-cli', 'blue', 'hv2', '10.0.0.20', undefined],
    ];
    for (const [name, net, host, ip, group] of plan) {
      ports[name] = await c.port(name, net, ip);
      if (group) await setPortGroups(api, ports[name]!, [group]);
      await c.vm(host, name, ports[name]!);
    }
    for (const vm of ['red-srv', 'blue-srv']) {
      await t.serve(vm, 'tcp', 80);
      await t.serve(vm, 'udp', 53);
    }
    await t.serve('red-cli', 'udp', 7001);
    await t.serve('blue-srv', 'udp', 41000);
    expect(await t.pollTcp('red-cli', '10.0.0.10', 80, 10)).toBeGreaterThanOrEqual(0);
  }, 120_000);

  afterAll(async () => {
    t?.stop();
    await c?.down();
  });

  it("red's connections from a fixed source port are allowed; blue's identical 5-tuples are refused", async () => {
    const session = t.session('red-cli', '10.0.0.10', 80, 4);
    await session.connected;
    expect(await t.reach('red-cli', 'udp', '10.0.0.10', 53, 1, 40053)).toBe(true);
    // The same source address and port, the same destination address and port: only the network differs.
    expect(await t.reach('blue-cli', 'udp', '10.0.0.10', 53, 1, 40053)).toBe(false);
    expect(await t.reach('blue-cli', 'tcp', '10.0.0.10', 80, 1, 40080)).toBe(false);
    expect(await t.reach('red-cli', 'tcp', '10.0.0.10', 80, 1, 40080)).toBe(true);
    expect((await session.done).length).toBeGreaterThan(20); // red's live session was never disturbed
  });

  it("a reply-shaped packet in blue is not taken for the reply of red's connection", async () => {
    // red-srv opens a flow out (egress is allowed): 10.0.0.10:41000 -> 10.0.0.20:7001, committed in its zone.
    expect(await t.reach('red-srv', 'udp', '10.0.0.20', 7001, 1, 41000)).toBe(true);
    // blue-cli sends exactly that flow's reply 5-tuple to blue-srv, which admits nothing: were the zone shared,
    // it would pass as a reply (+est+rpl) without a rule; in blue-srv's own zone it is new, and refused.
    expect(await t.reach('blue-cli', 'udp', '10.0.0.10', 41000, 1, 7001)).toBe(false);
  });

  it('a full recompute on each host yields exactly the installed flows', async () => {
    for (const h of ['hv1', 'hv2']) {
      const r = (await c.api(h).call('POST', '/v1/agent/recompute')) as Record<string, unknown>;
      expect(r.incremental).toEqual({ equal: true, missing: [], extra: [], different: [] });
      expect(r.switch).toEqual({ equal: true, missing: [], extra: [], different: [] });
    }
  });
});
