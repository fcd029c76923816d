/**
 * Port update (PATCH /v1/ports/{port}) on real OVS and etcd: the agents reprogram port security from the
 * updated port document while the VM runs. A VM that puts a VIP on its interface cannot use it (its ARP replies
 * and IP packets from the VIP are dropped) until the VIP is added as an allowed address pair; removing the pair
 * drops it again; `portSecurity: false` lifts the checks and `true` restores them. Afterwards a full recompute on
 * each host equals the switch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type PortInfo } from '../helpers/cluster.js';

const VIP = '10.0.0.150';
const OTHER = '10.0.0.201'; // an address the port never gets as a pair: only portSecurity false lets it through

describe('port update on real OVS: allowed address pairs and port security change under a running VM', () => {
  let c: Cluster;
  let holder: PortInfo;
  let peer: PortInfo;

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 2 });
    await c.network('net', '10.0.0.0/24');
    holder = await c.port('holder', 'net', '10.0.0.21');
    peer = await c.port('peer', 'net', '10.0.0.22');
    await c.vm('hv1', 'holder', holder);
    await c.vm('hv2', 'peer', peer);
    expect(await c.pingUntil('peer', holder.ip, 10_000)).toBeGreaterThanOrEqual(0);
    await c.sb.exec('holder', ['ip', 'addr', 'add', `${VIP}/24`, 'dev', 'eth0']);
    await c.sb.exec('holder', ['ip', 'addr', 'add', `${OTHER}/24`, 'dev', 'eth0']);
  }, 120_000);

  afterAll(async () => {
    await c?.down();
  });

  const patch = (body: unknown) => c.api().call<Record<string, unknown>>('PATCH', '/v1/ports/holder', body);

  /** A ping from the VIP itself (the VM is the source): true if answered. */
  async function pingFrom(src: string, dst: string): Promise<boolean> {
    return (await c.sb.exec('holder', ['ping', '-c1', '-n', '-W1', '-I', src, dst])).code === 0;
  }

  /** Waits until `ip` stops answering `vm`, then expects it to stay silent: the packets are dropped. */
  async function expectDropped(vm: string, ip: string, timeoutMs = 5_000): Promise<void> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs && (await c.ping(vm, ip, 0.5)));
    const r = await c.sb.exec(vm, ['ping', '-c3', '-i0.2', '-n', '-W1', ip]);
    expect(r.code, `${vm} -> ${ip} should get no answer:\n${r.stdout}`).not.toBe(0);
  }

  it('without an allowed pair the VIP is dropped: no answer from it across hosts, nothing sent from it passes', async () => {
    expect((await c.api().call<Record<string, unknown>>('GET', '/v1/ports/holder')).allowedAddressPairs).toEqual([]);
    await expectDropped('peer', VIP);
    expect(await pingFrom(VIP, peer.ip)).toBe(false);
    expect(await c.ping('peer', holder.ip)).toBe(true); // the port's own address still works
  });

  it('PATCH adding the VIP as an allowed pair lets the same VM use it; removing it drops it again', async () => {
    const u = await patch({ allowedAddressPairs: [{ ip: VIP }] });
    expect(u.allowedAddressPairs).toEqual([{ ip: VIP }]);
    expect(await c.pingUntil('peer', VIP, 10_000)).toBeGreaterThanOrEqual(0);
    expect(await pingFrom(VIP, peer.ip)).toBe(true);
    expect(await c.ping('peer', OTHER, 0.5)).toBe(false); // only the pair, not any address

    const v = await patch({ allowedAddressPairs: [] });
    expect(v.allowedAddressPairs).toEqual([]);
    await expectDropped('peer', VIP);
    expect(await pingFrom(VIP, peer.ip)).toBe(false);
    expect(await c.ping('peer', holder.ip)).toBe(true);
  });

  it('PATCH portSecurity false lifts the checks (any source address passes); true restores them', async () => {
    const u = await patch({ portSecurity: false });
    expect(u.portSecurity).toBe(false);
    expect(await c.pingUntil('peer', OTHER, 10_000)).toBeGreaterThanOrEqual(0);
    expect(await c.pingUntil('peer', VIP, 10_000)).toBeGreaterThanOrEqual(0);
    expect(await pingFrom(OTHER, peer.ip)).toBe(true);

    const v = await patch({ portSecurity: true });
    expect(v.portSecurity).toBe(true);
    await expectDropped('peer', OTHER);
    await expectDropped('peer', VIP);
    expect(await pingFrom(OTHER, peer.ip)).toBe(false);
    expect(await c.ping('peer', holder.ip)).toBe(true);
  });

  it('a full recompute on each host yields exactly the installed flows', async () => {
    for (const h of ['hv1', 'hv2']) {
      const r = (await c.api(h).call('POST', '/v1/agent/recompute')) as Record<string, unknown>;
      expect(r.incremental).toEqual({ equal: true, missing: [], extra: [], different: [] });
      expect(r.switch).toEqual({ equal: true, missing: [], extra: [], different: [] });
    }
  });
});
