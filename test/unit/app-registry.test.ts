/**
 * The app contract as the agent loads it: the shipped list agrees with the pipeline, and a list the pipeline
 * disagrees with is refused at load (duplicate names, foreign tables, handlers for undeclared or foreign
 * opcodes, an opcode left without a handler), before any app could touch the switch.
 */
import { describe, expect, it } from 'vitest';
import { APPS } from '../../src/apps/index.js';
import { writeNetwork, type App, type AppContext } from '../../src/apps/platform.js';
import { AppRegistryError, loadApps } from '../../src/apps/registry.js';
import { loadPipeline, parsePipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';
import { silentLogger } from '../../src/util/log.js';
import { TopologyView } from '../../src/view/index.js';

const tables = new PipelineTables(loadPipeline());
const view = new TopologyView('hv1', 'vxlan');
const context = (app: App): AppContext => ({
  view,
  tables: tables.forApp(app.name),
  logger: silentLogger,
  config: { encaps: ['vxlan'] },
  now: () => 0,
  roles: { gatewayConflict: () => 'none' },
});
const load = (apps: readonly App[]) => loadApps(tables, apps, context);
const handler = () => undefined;

describe('app registry', () => {
  it('loads the shipped list: every opcode routed to its owner, counters by app name', () => {
    const loaded = load(APPS);
    expect(loaded.apps.map((a) => a.app.name)).toEqual(['classifier', 'acl', 'dhcp', 'arp', 'l3', 'nat', 'l2']);
    for (const def of Object.values(tables.pipeline.opcodes)) expect(loaded.routes.get(def.id)?.app).toBe(def.owner);
    expect(Object.keys(loaded.counters()).sort()).toEqual(['dhcp', 'l3', 'nat']);
  });

  it('every app declares exactly the tables pipelines/ gives it', () => {
    for (const app of APPS)
      expect([...app.tables].sort()).toEqual(
        tables.pipeline.tables
          .filter((t) => t.owner === app.name)
          .map((t) => t.name)
          .sort(),
      );
  });

  it('refuses two apps of one name', () => {
    const l2 = APPS.find((a) => a.name === 'l2')!;
    expect(() => load([l2, { ...l2 }])).toThrow(/l2 is registered twice/);
  });

  it('refuses an app without a cookie id, and tables it does not own or leaves out', () => {
    expect(() => load([{ name: 'nonesuch', tables: [], create: () => ({}) }])).toThrow(/no cookie id/);
    expect(() => load([{ name: 'arp', tables: ['arp_responder', 'dhcp'], create: () => ({}) }])).toThrow(/owned by dhcp/);
    expect(() => load([{ name: 'l2', tables: ['l2_lookup'], create: () => ({}) }])).toThrow(/egress/);
  });

  it("refuses a handler for an undeclared opcode, or for another app's", () => {
    const arp = (packetIn: Record<string, () => undefined>): App => ({
      name: 'arp',
      tables: ['arp_responder'],
      create: () => ({ packetIn }),
    });
    expect(() => load([arp({ arp_gratuitous: handler })])).toThrow(AppRegistryError);
    expect(() => load([arp({ arp_gratuitous: handler })])).toThrow(/arp_gratuitous, which pipelines\/ does not declare/);
    expect(() => load([arp({ dhcp_request: handler })])).toThrow(/dhcp_request, owned by dhcp/);
  });

  it('refuses an app that leaves one of its opcodes without a handler', () => {
    const l3 = APPS.find((a) => a.name === 'l3')!;
    const partial: App = { ...l3, create: (ctx) => ({ packetIn: { l3_route_miss: l3.create(ctx).packetIn!.l3_route_miss! } }) };
    expect(() => load([partial])).toThrow(/no handler for its packet-in opcode l3_ttl_expired/);
  });

  it('an app may only send its own opcodes to the agent', () => {
    expect(tables.forApp('dhcp').toController('dhcp_request')).toEqual({
      type: 'controller',
      maxLen: 0xffff,
      v2: true,
      userdata: Buffer.from([0, 1]),
    });
    expect(() => tables.forApp('l3').toController('dhcp_request')).toThrow(/may not send opcode dhcp_request/);
    expect(() => tables.forApp('l3').toController('nope')).toThrow(/unknown packet-in opcode/);
  });

  it('the network register is written by write_metadata, and a map that moves it elsewhere is refused', () => {
    expect(writeNetwork(tables.forApp('l3'), 5)).toEqual({ value: 5n, mask: 0xffffffffffffffffn });
    const moved = new PipelineTables(
      parsePipeline(`tables:
  - {id: 0, name: a, owner: x, miss: drop}
cookies: {apps: {x: 1, pipeline: 2}}
registers: {network: {field: reg4, bits: 32}}
`),
    );
    expect(() => writeNetwork(moved.forApp('x'), 5)).toThrow(/must live in metadata/);
  });
});
