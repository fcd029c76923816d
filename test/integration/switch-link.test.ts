/**
 * SwitchLink on a real ovsdb-server with no ovs-vswitchd (issue 11): it waits for the server rather than fail,
 * prepares the bridge rows when the server appears, says that it waits for ovs-vswitchd to take the tunnel
 * port, and prepares again after the server restarts — with one warning per outage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchLink } from '../../src/agent/switch-link.js';
import { startOvsdbServer, type OvsdbTestServer } from '../helpers/ovsdb-server.js';
import { optional } from '../../src/ovsdb/datum.js';
import { OVS_DB } from '../../src/ovsdb/vswitch.js';
import { silentLogger, type Logger } from '../../src/util/log.js';

/** A silent logger that records the message of each warn line (its children are itself). */
function recordingLogger(warnings: string[]): Logger {
  const l = Object.create(silentLogger) as Logger;
  Object.assign(l, { child: () => l, warn: (o: unknown, msg?: string) => void warnings.push(String(msg ?? o)) });
  return l;
}

const waitUntil = async (what: string, f: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('SwitchLink without ovs-vswitchd', () => {
  let srv: OvsdbTestServer;
  let link: SwitchLink;
  const warnings: string[] = [];

  beforeAll(async () => {
    srv = await startOvsdbServer({ prefix: 'wv-link-' });
    await srv.stop(); // absent when the link starts
  });
  afterAll(async () => {
    await link?.close();
    await srv?.destroy();
  });

  it('waits for ovsdb-server, prepares the bridge when it appears, and waits for ovs-vswitchd for the tunnel ofport', async () => {
    link = new SwitchLink({
      ovsdb: srv.endpoint,
      bridge: 'br-int',
      datapathType: 'netdev',
      tableNames: new Map([
        [0, 'classifier'],
        [1, 'port_security'],
      ]),
      encaps: ['vxlan'],
      tunnelIp: '192.0.2.1',
      logger: recordingLogger(warnings),
      ofportGraceMs: 200,
    });
    await link.untilWaiting();
    expect(link.status().ovsdb.state).toBe('waiting');
    expect(link.status().bridge.state).toBe('pending');
    await new Promise((r) => setTimeout(r, 600)); // several probes: still one warning
    expect(warnings.filter((w) => w.includes('ovsdb-server not reachable'))).toHaveLength(1);

    let prepared = 0;
    link.on('prepared', () => prepared++);
    await srv.start();
    await link.ready();
    expect(link.status().ovsdb.state).toBe('connected');
    expect(link.status().bridge.state).toBe('ready');
    const [ft, tun] = await link.ovsdb.transact(OVS_DB, [
      { op: 'select', table: 'Flow_Table', where: [], columns: ['name'] },
      { op: 'select', table: 'Interface', where: [['name', '==', 'tun-vxlan']], columns: ['name', 'type'] },
    ]);
    expect(ft!.rows!.map((r) => optional<string>(r.name)).sort()).toEqual(['classifier', 'port_security']);
    expect(tun!.rows).toHaveLength(1);
    // No ovs-vswitchd: the tunnel port gets no ofport, and the link says what it waits for.
    await waitUntil('tunnel wait', () => link.status().bridge.tunnel === 'waiting for ovs-vswitchd');
    expect(warnings.filter((w) => w.includes('ovs-vswitchd has not taken the tunnel port'))).toHaveLength(1);

    // ovs-vswitchd's part, by hand: assigning the ofport answers the pending server-side wait at once.
    const ofports: number[] = [];
    link.on('tunnelOfport', (_encap: string, n: number) => ofports.push(n));
    await link.ovsdb.transact(OVS_DB, [{ op: 'update', table: 'Interface', where: [['name', '==', 'tun-vxlan']], row: { ofport: 7 } }]);
    await waitUntil('tunnel ofport', () => ofports.length > 0, 2_000);
    expect(ofports).toEqual([7]);
    expect(link.status().bridge).toMatchObject({ tunnel: 'ready', tunnelOfports: { vxlan: 7 } });
    expect(prepared).toBe(1);
  });

  it('after ovsdb-server restarts: waiting, then prepared again, one warning for the outage', async () => {
    const before = warnings.length;
    await srv.stop();
    await waitUntil('ovsdb waiting', () => link.status().ovsdb.state === 'waiting');
    expect(link.status().bridge.state).toBe('pending');
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    await srv.start();
    await link.ready();
    const ms = Date.now() - t0;
    expect(link.status().ovsdb.state).toBe('connected');
    expect(warnings.slice(before).filter((w) => w.includes('ovsdb-server not reachable'))).toHaveLength(1);
    // The socket watch, not a 5 s backoff, brings it back (generous bound for a loaded machine).
    expect(ms).toBeLessThan(3_000);
  });
});
