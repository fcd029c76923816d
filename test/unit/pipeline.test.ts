import { describe, expect, it } from 'vitest';
import { loadPipeline, parsePipeline, PipelineError } from '../../src/pipeline/pipeline.js';
import { FlowGuardError } from '../../src/pipeline/guard.js';
import { PipelineTables, type DesiredFlow } from '../../src/pipeline/tables.js';

describe('pipeline as data', () => {
  const p = loadPipeline();
  const t = new PipelineTables(p);

  it('loads the shipped pipeline with ascending tables and miss flows for each', () => {
    expect(p.tables.map((x) => x.name)).toContain('classifier');
    expect(t.missFlows()).toHaveLength(p.tables.length);
    expect(t.tableNames().get(t.id('l2_lookup'))).toBe('l2_lookup');
  });

  it('guards tables: owner, declared match fields and next tables', () => {
    expect(() => t.forApp('l2').table('classifier')).toThrow(PipelineError);
    const lookup = t.forApp('l2').table('l2_lookup');
    expect(() => lookup.flow({ priority: 100, match: [{ field: 'ipv4_dst', value: '10.0.0.1' }], object: 1 })).toThrow(/ipv4_dst/);
    expect(() => lookup.flow({ priority: 100, match: [], goto: 'classifier', object: 1 })).toThrow(/may not go to/);
    const twice = [
      { field: 'eth_dst', value: '02:00:00:00:00:01' },
      { field: 'eth_dst', value: '02:00:00:00:00:02' },
    ];
    expect(() => lookup.flow({ priority: 100, match: twice, goto: 'egress', object: 1 })).toThrow(/matches eth_dst twice/);
    const ok = lookup.flow({ priority: 100, match: [{ field: 'eth_dst', value: '02:00:00:00:00:01' }], goto: 'egress', object: 7 });
    expect(t.decodeCookie(ok.cookie)).toEqual({ app: 'l2', object: 7n });
  });

  it("appIdOfCookie and appName name every app's cookies as decodeCookie does (what /metrics counts flows by)", () => {
    const t = new PipelineTables(loadPipeline());
    const apps = Object.keys(loadPipeline().cookies.apps);
    expect(apps.length).toBeGreaterThan(3);
    for (const app of apps)
      for (const object of [0, 1, 0xffff, 2n ** 32n - 1n]) {
        const cookie = t.cookie(app, object);
        expect(t.appName(t.appIdOfCookie(cookie))).toBe(t.decodeCookie(cookie).app);
        expect(t.appName(t.appIdOfCookie(cookie))).toBe(app);
      }
    expect(t.appName(255)).toBeUndefined();
  });

  it('rejects bad documents with a clear error', () => {
    const bad = (s: string) => () => parsePipeline(s);
    expect(bad('tables: []')).toThrow(/no tables/);
    expect(
      bad(`tables:
  - {id: 1, name: a, owner: x, miss: drop, next: [b]}
  - {id: 0, name: b, owner: x, miss: drop}
cookies: {apps: {x: 1, pipeline: 2}}`),
    ).toThrow(/ascending|forward/);
    expect(
      bad(`tables:
  - {id: 0, name: a, owner: x, miss: next}
cookies: {apps: {x: 1, pipeline: 2}}`),
    ).toThrow(/no next/);
  });
});

describe('the guard checks more than matches and gotos', () => {
  const t = new PipelineTables(loadPipeline());
  const lookup = t.forApp('l2').table('l2_lookup');
  const mac = { field: 'eth_dst', value: '02:00:00:00:00:01' } as const;
  /** The rule a refusal names; every refusal is a FlowGuardError (a PipelineError). */
  const rule = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(FlowGuardError);
      expect(err).toBeInstanceOf(PipelineError);
      return (err as FlowGuardError).rule;
    }
    return 'accepted';
  };

  it('set-field targets: only the fields the table declares in sets (write_metadata writes metadata)', () => {
    expect(t.def('l2_lookup').sets).toEqual(['reg7', 'tun_id', 'tun_ipv4_dst', 'vlan_vid', 'in_port_nxm']);
    expect(
      rule(() => lookup.flow({ priority: 100, match: [mac], actions: [{ type: 'set_field', field: 'reg7', value: 3 }], object: 1 })),
    ).toBe('accepted');
    expect(
      rule(() => lookup.flow({ priority: 100, match: [mac], actions: [{ type: 'set_field', field: 'reg6', value: 3 }], object: 1 })),
    ).toBe('set_field');
    expect(
      rule(() =>
        lookup.flow({
          priority: 100,
          match: [mac],
          actions: [{ type: 'reg_move', src: 'reg6', dst: 'reg5', nBits: 32, srcOfs: 0, dstOfs: 0 }],
          object: 1,
        }),
      ),
    ).toBe('set_field');
    expect(rule(() => lookup.flow({ priority: 100, match: [mac], writeMetadata: { value: 1n, mask: 0xffn }, object: 1 }))).toBe(
      'set_field',
    );
    // l3_router moves packets between networks: it may write metadata.
    const l3 = t.forApp('l3').table('l3_router');
    expect(
      rule(() => l3.flow({ priority: 2000, match: [], writeMetadata: { value: 1n, mask: 0xffn }, goto: 'l2_lookup', object: 1 })),
    ).toBe('accepted');
  });

  it("priority: 0..65535 and within one of the table's declared bands", () => {
    expect(t.def('l3_router').bands.find((b) => b.name === 'static_route')).toEqual({ name: 'static_route', min: 1000, max: 1032 });
    expect(rule(() => lookup.flow({ priority: 70_000, match: [mac], object: 1 }))).toBe('priority');
    expect(rule(() => lookup.flow({ priority: -1, match: [mac], object: 1 }))).toBe('priority');
    expect(rule(() => lookup.flow({ priority: 1.5, match: [mac], object: 1 }))).toBe('priority');
    expect(rule(() => lookup.flow({ priority: 99, match: [mac], object: 1 }))).toBe('priority');
    for (const p of [10, 11, 50, 51, 100]) expect(rule(() => lookup.flow({ priority: p, match: [mac], object: 1 }))).toBe('accepted');
  });

  it('a priority-0 flow is the table-miss flow: it may not match anything', () => {
    expect(rule(() => lookup.flow({ priority: 0, match: [mac], object: 1 }))).toBe('miss_match');
    expect(rule(() => lookup.flow({ priority: 0, match: [], object: 1 }))).toBe('accepted');
  });

  it('check(): the same rules for any flow handed to the flow manager, plus table and cookie owner', () => {
    for (const f of t.missFlows()) expect(rule(() => t.check(f))).toBe('accepted');
    const ok: DesiredFlow = lookup.flow({ priority: 100, match: [mac], goto: 'egress', object: 1 });
    expect(rule(() => t.check(ok))).toBe('accepted');
    expect(rule(() => t.check({ ...ok, priority: 70_000 }))).toBe('priority');
    expect(rule(() => t.check({ ...ok, tableId: 200 }))).toBe('table');
    expect(rule(() => t.check({ ...ok, cookie: t.cookie('l3', 1) }))).toBe('owner');
    expect(rule(() => t.check({ ...ok, instructions: [{ type: 'goto_table', tableId: t.id('classifier') }] }))).toBe('goto');
    expect(
      rule(() =>
        t.check({
          ...ok,
          instructions: [{ type: 'apply_actions', actions: [{ type: 'set_field', field: 'eth_src', value: '02:00:00:00:00:09' }] }],
        }),
      ),
    ).toBe('set_field');
  });

  it('the loader refuses bad bands', () => {
    const doc = (bands: string) => `tables:
  - {id: 0, name: a, owner: x, miss: drop, priorities: ${bands}}
cookies: {apps: {x: 1, pipeline: 2}}`;
    expect(parsePipeline(doc('{ one: 5, range: [10, 20] }')).tables[0]!.bands).toEqual([
      { name: 'one', min: 5, max: 5 },
      { name: 'range', min: 10, max: 20 },
    ]);
    for (const bad of ['{ z: 0 }', '{ r: [20, 10] }', '{ r: [1, 70000] }', '[1, 2]', '{ r: [1] }'])
      expect(() => parsePipeline(doc(bad)), bad).toThrow(/priorit/);
  });
});
