/**
 * Issue 5's proof on real OVS and real etcd: 3 hypervisors, two networks with the same CIDR, two VMs per
 * network per host. Every scenario runs twice: with lazy sync (the default) and watching everything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chassisKey } from '../../src/model/keys.js';
import { openStore } from '../../src/store/index.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';

const HOSTS = ['hv1', 'hv2', 'hv3'];

describe.each([
  { lazy: true, mode: 'lazy sync' },
  { lazy: false, mode: 'watch everything' },
])('agent L2 overlay ($mode)', ({ lazy }) => {
  let c: Cluster;
  const ports: Record<string, PortInfo> = {};
  /** VMs by network: a-hv1-1 … b-hv3-2. */
  const vms: Record<'a' | 'b', string[]> = { a: [], b: [] };

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 3, lazySync: lazy });
    await c.network('net-a', '10.0.0.0/24');
    await c.network('net-b', '10.0.0.0/24');
    let n = 0;
    for (const [i, host] of HOSTS.entries()) {
      for (const k of [1, 2]) {
        n++;
        for (const net of ['a', 'b'] as const) {
          const name = `${net}-${host}-${k}`;
          // Distinct host parts per network, so a packet that crosses networks would find a live address.
          const ip = `10.0.0.${net === 'a' ? 10 + n : 20 + n}`;
          ports[name] = await c.port(name, `net-${net}`, ip);
          await c.vm(host, name, ports[name]!);
          vms[net].push(name);
        }
      }
      expect(i).toBeLessThan(3);
    }
  });

  afterAll(async () => {
    await c?.down();
  });

  it('every VM pings every VM of its own network, on the same host and across hosts', async () => {
    const failures: string[] = [];
    for (const net of ['a', 'b'] as const) {
      await Promise.all(
        vms[net].map(async (src) => {
          for (const dst of vms[net]) {
            if (src === dst) continue;
            if ((await c.pingUntil(src, ports[dst]!.ip, 3000)) < 0) failures.push(`${src} -> ${dst}`);
          }
        }),
      );
    }
    expect(failures).toEqual([]);
  });

  it('no VM reaches the other network: ping and ARP both fail', async () => {
    const leaks: string[] = [];
    await Promise.all(
      (['a', 'b'] as const).flatMap((net) =>
        vms[net].map(async (src) => {
          const other = net === 'a' ? 'b' : 'a';
          const dst = ports[vms[other][0]!]!;
          if (await c.ping(src, dst.ip, 0.5)) leaks.push(`${src} pinged ${dst.name}`);
          const neigh = await c.sb.exec(src, ['ip', 'neigh', 'show', dst.ip]);
          if (/lladdr/.test(neigh.stdout)) leaks.push(`${src} resolved ${dst.ip}: ${neigh.stdout.trim()}`);
        }),
      ),
    );
    expect(leaks).toEqual([]);
  });

  it('dump-flows shows named tables and cookies that identify the app', async () => {
    const host = c.sb.host('hv1');
    const out = await host.ovs.ofctl(['--names', '-O', 'OpenFlow13', 'dump-flows', host.ovs.mgmtSock()]);
    // ovs-ofctl quotes names with underscores: table="l2_lookup".
    for (const t of ['classifier', 'port_security', 'arp_responder', 'l2_lookup', 'egress'])
      expect(out).toMatch(new RegExp(`table="?${t}"?,`));
    // App ids live in the cookie's top byte (pipelines/default.yaml): classifier 2, l2 3, arp 4.
    const apps = new Set([...out.matchAll(/cookie=0x([0-9a-f]+)/g)].map((m) => Number(BigInt(`0x${m[1]}`) >> 56n)));
    for (const id of [1, 2, 3, 4]) expect(apps).toContain(id);
  });

  it('a full recompute yields exactly the incrementally installed flows on every host', async () => {
    for (const h of HOSTS) {
      const r = (await c.api(h).call('POST', '/v1/agent/recompute')) as Record<string, unknown>;
      expect(r.incremental).toEqual({ equal: true, missing: [], extra: [], different: [] });
      expect(r.switch).toEqual({ equal: true, missing: [], extra: [], different: [] });
    }
  });

  it('a VM moving from hv1 to hv2 is reachable again within 1 s', async () => {
    const moving = 'a-hv1-1';
    const watcher = 'a-hv3-1';
    expect(await c.ping(watcher, ports[moving]!.ip)).toBe(true);
    await c.sb.delVm(moving);
    const t0 = Date.now();
    await c.sb.addVm('hv2', moving, { portId: moving, mac: ports[moving]!.mac, ip: `${ports[moving]!.ip}/24` });
    const ms = await c.pingUntil(watcher, ports[moving]!.ip, 5000);
    const total = ms < 0 ? -1 : Date.now() - t0;
    expect(total).toBeGreaterThanOrEqual(0);
    expect(total).toBeLessThan(1000);
  });

  it('a port deleted under a plugged VM stops its traffic; a port created again under that name restores it', async () => {
    const vm = 'b-hv2-2';
    const peer = 'b-hv1-1';
    const p = ports[vm]!;
    expect(await c.ping(peer, p.ip)).toBe(true);
    await c.api().call('DELETE', `/v1/ports/${vm}`);
    // The VM's flows go with its port: nothing reaches it any more (ARP for it is no longer answered either).
    const gone = Date.now() + 3000;
    while (Date.now() < gone && (await c.ping(peer, p.ip, 0.3))) await new Promise((r) => setTimeout(r, 50));
    expect(await c.ping(peer, p.ip, 0.5)).toBe(false);
    // Same name, same MAC and address, new port: the VIF still plugged is bound to it without being touched.
    const again = (await c.api().call('POST', '/v1/ports', { name: vm, network: 'net-b', mac: p.mac, fixedIps: [{ ip: p.ip }] })) as {
      id: string;
    };
    expect(again.id).not.toBe(p.id);
    expect(await c.pingUntil(peer, p.ip, 5000)).toBeGreaterThanOrEqual(0);
    ports[vm] = { ...p, id: again.id };
  });

  it('a 4th host joins later with no restart of the others', async () => {
    const before = await Promise.all(HOSTS.map((h) => c.agentStatus(h)));
    await c.sb.addHost();
    const hv4 = c.sb.hosts.at(-1)!.name;
    await c.startAgent(hv4);
    const p = await c.port(`a-${hv4}-1`, 'net-a', '10.0.0.40');
    await c.vm(hv4, p.name, p);
    expect(await c.pingUntil(p.name, ports['a-hv1-2']!.ip, 3000)).toBeGreaterThanOrEqual(0);
    expect(await c.pingUntil('a-hv3-2', p.ip, 3000)).toBeGreaterThanOrEqual(0);
    const after = await Promise.all(HOSTS.map((h) => c.agentStatus(h)));
    for (const [i, s] of after.entries()) expect(s.uptimeSeconds).toBeGreaterThanOrEqual(before[i]!.uptimeSeconds);
  });

  it('an agent killed and restarted during ping -i 0.01 loses no packet', async () => {
    const src = 'a-hv1-2';
    const dst = ports['a-hv2-1']!.ip;
    const pinging = c.sb.exec(src, ['ping', '-n', '-q', '-i', '0.01', '-c', '400', '-W', '1', dst], 30_000);
    await new Promise((r) => setTimeout(r, 800));
    await c.stopAgent('hv1', 'SIGKILL');
    await c.stopAgent('hv2', 'SIGKILL');
    await c.startAgent('hv1');
    await c.startAgent('hv2');
    const r = await pinging;
    expect(r.stdout).toMatch(/400 packets transmitted, 400 received, 0% packet loss/);
  });

  it('peers drop a chassis whose agent died once its lease expires, and take it back when it returns', async () => {
    await c.stopAgent('hv3', 'SIGKILL');
    const gone = Date.now();
    const seen = async () => ((await c.agentStatus('hv1')).chassisSeen as string[]).includes('hv3');
    while ((await seen()) && Date.now() - gone < 15_000) await new Promise((r) => setTimeout(r, 100));
    expect(await seen()).toBe(false);
    // The lease TTL is 5 s in the sandbox: not dropped much earlier than that, nor much later.
    expect(Date.now() - gone).toBeGreaterThan(3_000);
    await c.startAgent('hv3');
    // hv1 learns of hv3's registration from its watch, which nothing here waits for.
    const back = Date.now();
    while (!(await seen()) && Date.now() - back < 5_000) await new Promise((r) => setTimeout(r, 50));
    expect(await seen()).toBe(true);
    expect(await c.pingUntil('a-hv1-2', ports['a-hv3-2']!.ip, 5_000)).toBeGreaterThanOrEqual(0);
  });

  it('an agent whose chassis key vanished (lease lost in a store outage) registers again at once', async () => {
    // Not `chassis delete`: that takes the chassis out of service on purpose (test/integration/agent-restart.test.ts).
    const store = await openStore(c.storeUrl);
    await store.delete(chassisKey('hv2')).finally(() => store.close());
    const t0 = Date.now();
    let back = false;
    while (!back && Date.now() - t0 < 5_000) {
      back = ((await c.api('hv1').call('GET', '/v1/chassis')) as { name: string }[]).some((x) => x.name === 'hv2');
      if (!back) await new Promise((r) => setTimeout(r, 50));
    }
    expect(back).toBe(true);
    expect(await c.pingUntil('a-hv1-2', ports['a-hv2-2']!.ip, 5_000)).toBeGreaterThanOrEqual(0);
  });

  it('OVS restarted on a host: the pipeline comes back and pings recover', async () => {
    await c.sb.hostStop('hv2');
    await c.sb.hostStart('hv2');
    expect(await c.pingUntil('a-hv1-2', ports['a-hv2-2']!.ip, 10_000)).toBeGreaterThanOrEqual(0);
    expect(await c.pingUntil('b-hv2-1', ports['b-hv3-1']!.ip, 10_000)).toBeGreaterThanOrEqual(0);
    const r = (await c.api('hv2').call('POST', '/v1/agent/recompute')) as Record<string, unknown>;
    expect(r.switch).toEqual({ equal: true, missing: [], extra: [], different: [] });
  });
});
