/**
 * NAT flows (issue 14) on real Open vSwitch (userspace datapath): every flow of the north-south topology — ct with
 * NAT in the router's zone, recirculation, VLAN push, ARP answers, tunnel output — is accepted as built, reads
 * back equal to what was desired (so the flow manager never rewrites it), and a learned next hop's transient flow
 * is accepted too. Needs root and openvswitch-switch.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowComputer } from '../../src/agent/compute.js';
import { APPS } from '../../src/apps/index.js';
import { Neighbours } from '../../src/apps/nat/index.js';
import { FlowManager } from '../../src/flows/manager.js';
import type { OfMessage } from '../../src/openflow/index.js';
import { OfChannel, type UpEvent } from '../../src/openflow/channel/index.js';
import { buildArpReply, parseFrame } from '../../src/packet/index.js';
import { loadPipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { startOvsHost, type OvsHost } from '../../src/sandbox/ovs-host.js';
import { FakeSwitch } from '../helpers/fake-switch.js';
import { GW, natView, OUTSIDE_ROUTER, PATCH } from '../helpers/nat-topology.js';

const tables = new PipelineTables(loadPipeline());
const name = `gw${randomBytes(3).toString('hex')}`;
let host: OvsHost;
let ch: OfChannel;
const errors: OfMessage[] = [];

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('integration test needs root (network namespaces, OVS)');
  host = await startOvsHost({ name });
  ch = new OfChannel({ endpoint: `unix:${host.mgmtSock()}`, reconnect: { minMs: 50, maxMs: 500 }, requestTimeoutMs: 5_000 });
  ch.on('message', (m: OfMessage) => m.type === 'ERROR' && errors.push(m));
  const up = new Promise<UpEvent>((r) => ch.once('up', r));
  ch.start();
  await up;
}, 60_000);

afterAll(async () => {
  await ch?.stop();
  await host?.destroy();
});

describe('NAT flows on real OVS', () => {
  for (const [label, opts] of [
    ['gateway active here, flat', { active: 'hv1' }],
    ['gateway on hv2, VLAN 42', { active: 'hv2', vlan: 42 }],
  ] as const) {
    it(`${label}: every flow accepted and read back as desired`, async () => {
      const view = natView(opts);
      const fm = new FlowManager(ch, { check: (f) => tables.check(f) });
      await fm.activate();
      const full = new FlowComputer(tables, APPS, view, new FlowManager(new FakeSwitch())).fullRecompute();
      const v = fm.set('all', full);
      await fm.sync();
      await fm.whenApplied(v);
      expect(fm.stats).toMatchObject({ rejectedFlows: 0, errors: 0 });
      expect(errors).toEqual([]);
      const cmp = await fm.compareSwitch(full);
      expect(cmp).toMatchObject({ equal: true });
      // A learned next hop (transient, idle timeout) is accepted too.
      const n = new Neighbours(view, tables.forApp('nat'), () => 0);
      const learned = n.binding({
        opcode: 'nat_mac_binding',
        table: 'nat_ingress',
        inPort: PATCH,
        networkKey: 100n,
        frame: parseFrame(buildArpReply({ srcMac: OUTSIDE_ROUTER.mac, srcIp: OUTSIDE_ROUTER.ip, dstMac: GW.mac, dstIp: GW.ip })),
        cookie: 0n,
      });
      await fm.answer({ ...learned!.transient!, packets: [] });
      expect(fm.stats).toMatchObject({ rejectedFlows: 0, errors: 0 });
      const dumped = await host.ofctl(['-O', 'OpenFlow13', 'dump-flows', `unix:${host.mgmtSock()}`, 'table=46']);
      expect(dumped).toContain(`set_field:${OUTSIDE_ROUTER.mac}->eth_dst`);
      fm.drop('all');
      await fm.sync();
      fm.close();
    }, 60_000);
  }
});
