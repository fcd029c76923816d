/** The firewall's part of pipelines/: its tables and registers, ct_mark flags, and the guard on resubmit and ct targets. */
import { describe, expect, it } from 'vitest';
import type { Action } from '../../src/openflow/index.js';
import { FlowGuardError } from '../../src/pipeline/guard.js';
import { loadPipeline, parsePipeline } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';

const t = new PipelineTables(loadPipeline());

describe('acl pipeline declarations', () => {
  it('declares the ACL tables between port_security and dhcp, and between l2_lookup and egress, owned by acl', () => {
    const order = t.pipeline.tables.map((d) => d.name);
    const at = (n: string) => order.indexOf(n);
    expect(at('port_security') < at('acl_egress_ct') && at('acl_egress_ct') < at('acl_egress')).toBe(true);
    expect(at('acl_egress') < at('acl_egress_action') && at('acl_egress_action') < at('dhcp')).toBe(true);
    expect(at('l2_lookup') < at('acl_ingress_ct') && at('acl_ingress_action') < at('egress')).toBe(true);
    for (const n of ['acl_egress_ct', 'acl_egress', 'acl_egress_action', 'acl_ingress_ct', 'acl_ingress', 'acl_ingress_action'])
      expect(t.def(n).owner).toBe('acl');
    expect(t.pipeline.cookies.apps.acl).toBe(7);
    // Unprotected ports miss through: the ct tables miss to the stage after the firewall.
    expect(t.def('acl_egress_ct').next[0]).toBe('dhcp');
    expect(t.def('acl_ingress_ct').next[0]).toBe('egress');
  });

  it('names the ct_zone register (16 bits of reg4), the acl_allowed flag and the blocked bit of ct_mark', () => {
    expect(t.regBits('ct_zone')).toEqual({ field: 'reg4', offset: 0, bits: 16 });
    expect(() => t.reg('ct_zone')).toThrow(/part of reg4/);
    expect(t.flag('acl_allowed')).toEqual({ field: 'reg0', mask: 2 });
    expect(t.flag('blocked')).toEqual({ field: 'ct_mark', mask: 1 });
    expect(t.forApp('acl').flagBit('blocked')).toEqual({ field: 'ct_mark', bit: 0 });
  });

  it('ct_mark holds flags like a register and refuses overlaps; other non-register fields are still refused', () => {
    const base = `tables:\n  - {id: 0, name: a, owner: x, miss: drop}\ncookies: {apps: {x: 1, pipeline: 2}}\n`;
    const p = parsePipeline(base + 'registers: {m: {field: ct_mark, bits: 32, flags: {b: {bit: 3}}}}');
    expect(new PipelineTables(p).flag('b')).toEqual({ field: 'ct_mark', mask: 8 });
    expect(() => parsePipeline(base + 'registers: {m: {field: ct_mark, bits: 32}, n: {field: ct_mark, bits: 1, offset: 4}}')).toThrow(
      /overlap in ct_mark/,
    );
    expect(() => parsePipeline(base + 'registers: {m: {field: ct_label, bits: 32}}')).toThrow(/unknown register field ct_label/);
  });
});

describe('the guard on resubmit and conntrack targets', () => {
  const acl = t.forApp('acl');
  const ct = (recircTable: number, actions: Action[] = [], flags = 0): Action => ({
    type: 'ct',
    flags,
    zone: 15,
    zoneSrc: 'reg4',
    recircTable,
    alg: 0,
    actions,
  });
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return err instanceof FlowGuardError ? err.rule : 'other';
    }
    return undefined;
  };

  it('a ct recirculation table must be a declared next table', () => {
    const table = acl.table('acl_egress_ct');
    const ok = {
      priority: 100,
      match: [
        { field: 'reg6', value: 1 },
        { field: 'eth_type', value: 0x800 },
      ],
      object: 1,
    };
    expect(refusal(() => table.flow({ ...ok, actions: [ct(t.id('acl_egress'))] }))).toBeUndefined();
    expect(refusal(() => table.flow({ ...ok, actions: [ct(t.id('acl_egress_action'))] }))).toBe('goto');
    expect(refusal(() => table.flow({ ...ok, actions: [ct(255)] }))).toBeUndefined(); // no recirculation
  });

  it("a field written inside ct's exec must be one the table sets", () => {
    const load = (dst: string): Action => ({ type: 'reg_load', dst, ofs: 0, nBits: 1, value: 1n });
    const action = acl.table('acl_egress_action');
    const m = { priority: 100, match: [{ field: 'eth_type', value: 0x800 }], object: 0 };
    expect(refusal(() => action.flow({ ...m, actions: [ct(255, [load('ct_mark')], 1)] }))).toBeUndefined();
    expect(refusal(() => action.flow({ ...m, actions: [ct(255, [load('reg5')], 1)] }))).toBe('set_field');
  });

  it('a resubmit target must be a declared next table (l2_lookup may resubmit to acl_ingress_ct, not to egress ct tables)', () => {
    const lookup = t.forApp('l2').table('l2_lookup');
    const m = { priority: 10, match: [{ field: 'metadata', value: 1n }], object: 1 };
    expect(refusal(() => lookup.flow({ ...m, actions: [{ type: 'resubmit', table: t.id('acl_ingress_ct') }] }))).toBeUndefined();
    expect(refusal(() => lookup.flow({ ...m, actions: [{ type: 'resubmit', table: t.id('acl_ingress') }] }))).toBe('goto');
    expect(refusal(() => lookup.flow({ ...m, actions: [{ type: 'resubmit', table: t.id('dhcp') }] }))).toBe('goto');
    // The flow manager's check (a flow handed to it) applies the same rule.
    const flow = lookup.flow({ ...m, actions: [{ type: 'resubmit', table: t.id('acl_ingress_ct') }] });
    expect(() =>
      t.check({ ...flow, instructions: [{ type: 'apply_actions', actions: [{ type: 'resubmit', table: t.id('egress') + 1 }] }] }),
    ).toThrow(FlowGuardError);
  });
});
