/**
 * Issue 13's firewall on real OVS (userspace conntrack) and etcd: 2 hypervisors, one network. `web` (hv1) admits
 * TCP 8000-8099 from the members of group `clients` (a range of several masks: a 3-clause conjunction) and ICMP
 * from 10.0.0.0/24 (a CIDR); `clients` and `others` have only the default egress rule. TCP (busybox nc) and ping
 * pass exactly where the rules say, across hosts and on one host; replies come back to ports with no ingress rule;
 * a new member of `clients` connects within about a second; removing the TCP rule cuts a live session; a full
 * recompute equals the incremental flows and the switch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { agentOf } from '../../src/sandbox/agents.js';
import type { SecurityGroup, SgRule } from '../../src/model/types.js';
import { Cluster, type PortInfo } from '../helpers/cluster.js';
import { untilListening } from '../helpers/listening.js';
import { addRule, createGroup, deleteRule, readGroup, setPortGroups } from '../helpers/sg-api.js';

describe.each([
  { lazy: true, mode: 'lazy sync' },
  { lazy: false, mode: 'watch everything' },
])('security groups on real OVS: stateful ACLs with conntrack ($mode)', ({ lazy }) => {
  let c: Cluster;
  const ports: Record<string, PortInfo> = {};
  let web: SecurityGroup, clients: SecurityGroup, others: SecurityGroup;
  let tcpRule: SgRule;
  const LIVE = `/tmp/wyvern-acl-live-${process.pid}-${lazy ? 'lazy' : 'all'}`;
  /**
   * Process groups this test started in the background (listeners, the live session), each in its own session
   * with every stdio detached (exec waits for its output to close), ended by group id in afterAll.
   */
  const groups: number[] = [];
  const background = async (vm: string, cmd: string) => {
    const quoted = cmd.replace(/'/g, `'\\''`);
    const r = await c.sb.exec(vm, ['sh', '-c', `setsid sh -c '${quoted}' </dev/null >/dev/null 2>&1 & echo $!`]);
    const pid = Number(r.stdout.trim());
    if (pid > 0) groups.push(pid);
  };

  beforeAll(async () => {
    c = await Cluster.up({ hosts: 2, lazySync: lazy });
    await c.network('net', '10.0.0.0/24');
    clients = await createGroup(c.api(), 'clients');
    others = await createGroup(c.api(), 'others');
    web = await createGroup(c.api(), 'web', [
      { direction: 'ingress', protocol: 'tcp', portMin: 8000, portMax: 8099, remoteGroupId: clients.id },
      { direction: 'ingress', protocol: 'icmp', remoteCidr: '10.0.0.0/24' },
    ]);
    tcpRule = web.rules[1]!;
    const plan: [string, string, string, SecurityGroup | undefined][] = [
      ['web', 'hv1', '10.0.0.10', web],
      ['client', 'hv2', '10.0.0.20', clients],
      ['other', 'hv2', '10.0.0.30', others],
      ['local', 'hv1', '10.0.0.40', clients], // same host as web
      ['late', 'hv2', '10.0.0.50', others], // joins clients later
      ['open', 'hv2', '10.0.0.60', undefined], // in no group: no firewall
    ];
    for (const [name, host, ip, group] of plan) {
      ports[name] = await c.port(name, 'net', ip);
      if (group) await setPortGroups(c.api(), ports[name]!, [group.id]);
      await c.vm(host, name, ports[name]!);
    }
    // Listeners on web: one answering every connection on 8080 (and closing it), one keeping a session on 8081.
    await background('web', 'busybox nc -ll -p 8080 -e /bin/true');
    await untilListening(c.sb, 'web', 'tcp', 8080);
    const answered = await c.pingUntil('client', ports.web!.ip, 10_000);
    if (answered < 0) await dump();
    expect(answered).toBeGreaterThanOrEqual(0);
  }, 180_000);

  /** On failure: each host's flows and agent log tail to a file, for whoever debugs it. */
  async function dump(): Promise<void> {
    const out: string[] = [];
    for (const h of c.sb.hosts) {
      out.push(
        `=== ${h.name} flows`,
        await h.ovs.ofctl(['-O', 'OpenFlow13', '--names', 'dump-flows', h.ovs.mgmtSock()]).catch((e) => String(e)),
      );
      const log = agentOf(h)?.log;
      if (log)
        out.push(
          `=== ${h.name} agent log (errors)`,
          ...(await readFile(log, 'utf8'))
            .split('\n')
            .filter((l) => /"level":(40|50|60)/.test(l))
            .slice(-40),
        );
    }
    await writeFile(`/tmp/wyvern-acl-dump-${process.pid}.txt`, out.join('\n'));
  }

  afterAll(async () => {
    for (const pgid of groups)
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    await rm(LIVE, { force: true });
    await c?.down();
  });

  /** A TCP connection from `vm` to web:8080 within 2 s (connect, the server closes it). */
  const connects = async (vm: string, port = 8080) =>
    (await c.sb.exec(vm, ['timeout', '4', 'busybox', 'nc', '-w', '2', ports.web!.ip, String(port)], 6_000)).code === 0;

  it('TCP to web passes from members of clients (other host and same host), not from others', async () => {
    expect(await connects('client')).toBe(true);
    expect(await connects('local')).toBe(true);
    expect(await connects('other')).toBe(false);
    // A port outside the rule's range is refused even for a member.
    expect(await connects('client', 8100)).toBe(false);
  }, 60_000);

  it('ping passes where a rule admits it and its reply returns to a port with no ingress rule; not the other way', async () => {
    expect(await c.ping('client', ports.web!.ip)).toBe(true);
    expect(await c.ping('other', ports.web!.ip)).toBe(true);
    expect(await c.ping('local', ports.web!.ip)).toBe(true);
    // client, other and local admit nothing in: web's pings go unanswered (its requests are dropped at them).
    expect(await c.ping('web', ports.client!.ip)).toBe(false);
    expect(await c.ping('web', ports.local!.ip)).toBe(false);
    expect(await c.ping('client', ports.other!.ip)).toBe(false);
  }, 60_000);

  it('a port that joins clients can connect within about a second', async () => {
    expect(await connects('late')).toBe(false);
    const t0 = Date.now();
    await setPortGroups(c.api(), ports.late!, [clients.id]);
    let ok = false;
    while (!ok && Date.now() - t0 < 5_000) ok = await connects('late');
    expect(ok).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2_500);
  }, 60_000);

  it("flood copies take the receiver's ingress ACL: a broadcast reaches web by its rule, never other, and still leaves for the other host", async () => {
    await addRule(c.api(), web.id, { direction: 'ingress', protocol: 'udp', portMin: 5353, portMax: 5353 });
    await new Promise((r) => setTimeout(r, 1_000));
    const listen = (vm: string) =>
      c.sb.exec(
        vm,
        [
          '/usr/bin/python3',
          '-c',
          "import socket\ns=socket.socket(2,2)\ns.setsockopt(1,2,1)\ns.bind(('',5353))\ns.settimeout(3)\ntry:\n print(s.recv(100).decode())\nexcept Exception:\n print('none')",
        ],
        8_000,
      );
    // From hv1 (local flood with a ct recirculation per protected copy, then the tunnel copy) and from hv2.
    for (const sender of ['local', 'client']) {
      const got = Promise.all(['web', 'other', 'open'].map(listen));
      for (const vm of ['web', 'other', 'open']) await untilListening(c.sb, vm, 'udp', 5353);
      await c.sb.exec(sender, [
        '/usr/bin/python3',
        '-c',
        `import socket\ns=socket.socket(2,2)\ns.setsockopt(1,6,1)\ns.sendto(b'hello-${sender}',('10.0.0.255',5353))`,
      ]);
      const [w, o, op] = (await got).map((r) => r.stdout.trim());
      expect({ sender, web: w, other: o, open: op }).toEqual({ sender, web: `hello-${sender}`, other: 'none', open: `hello-${sender}` });
    }
  }, 60_000);

  const size = async () => Number((await c.sb.exec('web', ['sh', '-c', `stat -c %s ${LIVE} 2>/dev/null || echo 0`])).stdout.trim());
  /** Bytes the live session delivers within `ms`. */
  const grows = async (ms: number) => {
    const before = await size();
    await new Promise((r) => setTimeout(r, ms));
    return (await size()) - before;
  };

  it('a live session survives a restart of the agent of either end (zones are ofports: hitless)', async () => {
    await c.sb.exec('web', ['rm', '-f', LIVE]);
    // A pipe that stays open as its stdin: busybox nc ends the session when its stdin ends.
    await background('web', `sleep 120 | busybox nc -l -p 8081 >${LIVE}`);
    await untilListening(c.sb, 'web', 'tcp', 8081);
    await background('client', `(while true; do echo x; sleep 0.1; done) | busybox nc ${ports.web!.ip} 8081`);
    await new Promise((r) => setTimeout(r, 500));
    expect(await grows(1_000)).toBeGreaterThan(0); // the session is live
    for (const h of ['hv1', 'hv2']) {
      await c.stopAgent(h);
      await c.startAgent(h);
      expect(await grows(1_500)).toBeGreaterThan(10);
    }
  }, 90_000);

  it('removing the TCP rule cuts the live session at its next packet', async () => {
    expect(await grows(500)).toBeGreaterThan(0);
    await deleteRule(c.api(), web.id, tcpRule.id);
    expect((await readGroup(c.api(), web.id)).rules.some((r) => r.id === tcpRule.id)).toBe(false);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await grows(1_500)).toBe(0); // nothing more arrives
    expect(await connects('client')).toBe(false);
    // ICMP is still admitted: only the removed rule's traffic stopped.
    expect(await c.ping('client', ports.web!.ip)).toBe(true);
  }, 60_000);

  it('a full recompute on each host yields exactly the incremental flows and the switch', async () => {
    for (const h of ['hv1', 'hv2']) {
      const r = (await c.api(h).call('POST', '/v1/agent/recompute')) as Record<string, unknown>;
      expect(r.incremental).toEqual({ equal: true, missing: [], extra: [], different: [] });
      expect(r.switch).toEqual({ equal: true, missing: [], extra: [], different: [] });
    }
  });
});
