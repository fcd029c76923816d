/**
 * Issue 13, per-port QoS on real OVS and etcd: two hosts, a VM on each; vm1's port gets a switch -> VM limit
 * (egress meter on hv1's l2 egress flow) and a VM -> switch limit (ingress meter on hv1's classifier flow).
 * iperf3 TCP across hosts both ways measures the receiver's rate: within ±10% of each limit; removing the limits
 * restores full speed; the limits hold after the agent restarts (SIGTERM and SIGKILL) and after OVS restarts.
 *
 * Limits are set through the API (`PATCH /v1/ports/{port} {qos}`).
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortQos } from '../../src/model/types.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { untilListening } from '../helpers/listening.js';
import { requireSandboxPrereqs } from './sandbox-helpers.js';

const EGRESS_KBPS = 20_000; // switch -> vm1
const INGRESS_KBPS = 8_000; // vm1 -> switch
const TOLERANCE = 0.1;
/** Without a limit the cross-host path carries far more than either limit (hundreds of Mbit/s here). */
const UNLIMITED_FACTOR = 3;

describe('per-port QoS on real OVS: meters both ways, across hosts, restarts', () => {
  let c: Cluster;
  let vm1: PortInfo;
  let vm2: PortInfo;
  let port = 5201;

  /** Sets (or with null removes) a port's limits in its store document, as the API will. */
  /** Sets (or with null removes) the port's limits as an operator does: PATCH /v1/ports/{port} {qos}. */
  async function setQos(p: PortInfo, qos: PortQos | null): Promise<void> {
    await c.api().call('PATCH', `/v1/ports/${p.name}`, { qos });
  }

  /** iperf3 TCP from one VM to another for `seconds`; the rate the receiver saw, in kbit/s. */
  async function iperf(from: string, to: string, toIp: string, seconds = 6): Promise<number> {
    const p = port++;
    const server = spawn('ip', ['netns', 'exec', c.sb.vm(to).netns, 'iperf3', '-s', '-1', '-p', String(p)], { stdio: 'ignore' });
    try {
      await untilListening(c.sb, to, 'tcp', p);
      const r = await c.sb.exec(
        from,
        ['iperf3', '-c', toIp, '-p', String(p), '-t', String(seconds), '--connect-timeout', '3000', '-J'],
        30_000,
      );
      const j = JSON.parse(r.stdout) as { error?: string; end: { sum_received: { bits_per_second: number } } };
      if (j.error) throw new Error(`iperf3 ${from} -> ${to}: ${j.error}`);
      return j.end.sum_received.bits_per_second / 1000;
    } finally {
      server.kill();
    }
  }

  const sendToVm1 = () => iperf('vm2', 'vm1', vm1.ip); // switch -> vm1: the egress limit
  const sendFromVm1 = () => iperf('vm1', 'vm2', vm2.ip); // vm1 -> switch: the ingress limit
  const within = (kbps: number, limit: number) => Math.abs(kbps - limit) <= limit * TOLERANCE;

  /** Both directions limited as configured (measured rates printed for the report). */
  async function expectLimited(label: string): Promise<void> {
    const down = await sendToVm1();
    const up = await sendFromVm1();
    console.log(
      `qos ${label}: to vm1 ${(down / 1000).toFixed(2)} Mbit/s (limit ${EGRESS_KBPS / 1000}), from vm1 ${(up / 1000).toFixed(2)} Mbit/s (limit ${INGRESS_KBPS / 1000})`,
    );
    expect(within(down, EGRESS_KBPS), `to vm1 ${down} kbit/s vs ${EGRESS_KBPS}`).toBe(true);
    expect(within(up, INGRESS_KBPS), `from vm1 ${up} kbit/s vs ${INGRESS_KBPS}`).toBe(true);
  }

  /** The meters on hv1's switch (ovs-ofctl dump-meters). */
  const meters = async () => {
    const h = c.sb.host('hv1');
    return h.ovs.ofctl(['-O', 'OpenFlow13', 'dump-meters', h.ovs.mgmtSock()]);
  };

  /** Waits until hv1's switch holds `n` meters (the agent applied a change, or re-applied after a restart). */
  async function waitMeters(n: number, timeoutMs = 15_000): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      const count = ((await meters().catch(() => '')).match(/^meter=/gm) ?? []).length;
      if (count === n) return;
      if (Date.now() - t0 > timeoutMs) throw new Error(`hv1 holds ${count} meters, not ${n}:\n${await meters().catch(String)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function expectSwitchEqual(host: string): Promise<void> {
    const r = (await c.api(host).call('POST', '/v1/agent/recompute')) as Record<string, unknown>;
    expect(r.switch).toEqual({ equal: true, missing: [], extra: [], different: [] });
  }

  beforeAll(async () => {
    requireSandboxPrereqs();
    c = await Cluster.up({ hosts: 2 });
    await c.network('net', '10.0.0.0/24');
    vm1 = await c.port('vm1', 'net', '10.0.0.11');
    vm2 = await c.port('vm2', 'net', '10.0.0.12');
    await c.vm('hv1', 'vm1', vm1);
    await c.vm('hv2', 'vm2', vm2);
    expect(await c.pingUntil('vm2', vm1.ip, 10_000)).toBeGreaterThanOrEqual(0);
  }, 120_000);

  afterAll(async () => {
    await c?.down();
  });

  it('limits both ways within ±10%: switch -> VM by the egress meter, VM -> switch by the ingress meter', async () => {
    await setQos(vm1, { egressRateKbps: EGRESS_KBPS, ingressRateKbps: INGRESS_KBPS });
    await waitMeters(2);
    const dump = await meters();
    expect(dump).toMatch(new RegExp(`rate=${EGRESS_KBPS} burst_size=${EGRESS_KBPS / 2}`));
    expect(dump).toMatch(new RegExp(`rate=${INGRESS_KBPS} burst_size=${INGRESS_KBPS / 2}`));
    await expectLimited('configured');
    await expectSwitchEqual('hv1');
  }, 60_000);

  it('removing the limits restores full speed, and the meters go', async () => {
    await setQos(vm1, null);
    await waitMeters(0);
    const down = await sendToVm1();
    const up = await sendFromVm1();
    console.log(`qos removed: to vm1 ${(down / 1000).toFixed(1)} Mbit/s, from vm1 ${(up / 1000).toFixed(1)} Mbit/s`);
    expect(down).toBeGreaterThan(EGRESS_KBPS * UNLIMITED_FACTOR);
    expect(up).toBeGreaterThan(INGRESS_KBPS * UNLIMITED_FACTOR);
    await expectSwitchEqual('hv1');
  }, 60_000);

  it.each(['SIGTERM', 'SIGKILL'] as const)(
    'the limits hold across an agent restart (%s)',
    async (signal) => {
      await setQos(vm1, { egressRateKbps: EGRESS_KBPS, ingressRateKbps: INGRESS_KBPS });
      await waitMeters(2);
      const installedAt = Date.now();
      await c.stopAgent('hv1', signal);
      await c.startAgent('hv1');
      await c.waitInstalled('vm1');
      await waitMeters(2);
      // Hitless: the new agent reconciled the meters it found instead of re-creating them (their age spans the restart).
      const h = c.sb.host('hv1');
      const ages = [...(await h.ovs.ofctl(['-O', 'OpenFlow13', 'meter-stats', h.ovs.mgmtSock()])).matchAll(/duration:([\d.]+)s/g)].map(
        (m) => Number(m[1]),
      );
      expect(ages).toHaveLength(2);
      for (const age of ages) expect(age).toBeGreaterThanOrEqual((Date.now() - installedAt) / 1000 - 1);
      await expectLimited(`after agent ${signal}`);
      await expectSwitchEqual('hv1');
    },
    90_000,
  );

  it('the limits come back after an OVS restart (flows and meters reinstalled)', async () => {
    await c.sb.hostStop('hv1');
    await c.sb.hostStart('hv1');
    await waitMeters(2, 20_000);
    expect(await c.pingUntil('vm2', vm1.ip, 10_000)).toBeGreaterThanOrEqual(0);
    await expectLimited('after OVS restart');
    await expectSwitchEqual('hv1');
  }, 90_000);
});
