/** Registers, flag bits and packet-in opcodes declared in pipelines/: names in code, bits checked at load. */
import { describe, expect, it } from 'vitest';
import { loadPipeline, parsePipeline, PipelineError } from '../../src/pipeline/pipeline.js';
import { PipelineTables } from '../../src/pipeline/tables.js';

const TABLES = `tables:
  - {id: 0, name: a, owner: x, miss: drop}
cookies: {apps: {x: 1, pipeline: 2}}
`;
const parse = (extra: string) => parsePipeline(TABLES + extra);

describe('register and opcode declarations', () => {
  const t = new PipelineTables(loadPipeline());

  it('the shipped pipeline names its registers, the from-tunnel flag and the opcodes', () => {
    expect(t.reg('network')).toBe('metadata');
    expect(t.reg('src_port')).toBe('reg6');
    expect(t.flag('from_tunnel')).toEqual({ field: 'reg0', mask: 1 });
    expect(t.opcode('dhcp_request')).toMatchObject({ id: 1, owner: 'dhcp' });
    expect(t.opcodeById(t.opcode('l3_route_miss').id)?.name).toBe('l3_route_miss');
    expect(() => t.reg('nope')).toThrow(/unknown register/);
    expect(() => t.flag('nope')).toThrow(/unknown flag/);
  });

  it('refuses registers that share bits, also through an xreg covering two regs', () => {
    expect(() => parse('registers: {a: {field: reg1, bits: 32}, b: {field: reg1, bits: 8, offset: 24}}')).toThrow(
      /a and b overlap in reg1/,
    );
    expect(() => parse('registers: {a: {field: xreg0, bits: 64}, b: {field: reg1, bits: 1}}')).toThrow(/overlap in reg1/);
    // Disjoint halves of one field are fine (but not addressable by reg() until code needs masks).
    const p = parse('registers: {a: {field: reg1, bits: 16}, b: {field: reg1, bits: 16, offset: 16}}');
    expect(() => new PipelineTables(p).reg('b')).toThrow(/part of reg1/);
  });

  it('refuses unknown fields, bits that do not fit, and flags outside or sharing bits', () => {
    expect(() => parse('registers: {a: {field: eth_src, bits: 48}}')).toThrow(/unknown register field eth_src/);
    expect(() => parse('registers: {a: {field: reg16, bits: 32}}')).toThrow(/unknown register field/);
    expect(() => parse('registers: {a: {field: reg2, bits: 33}}')).toThrow(/do not fit reg2/);
    expect(() => parse('registers: {a: {field: reg2, bits: 8, offset: 30}}')).toThrow(/do not fit/);
    expect(() => parse('registers: {a: {field: reg2, bits: 4, flags: {f: {bit: 4}}}}')).toThrow(/flag f needs a bit 0..3/);
    expect(() => parse('registers: {a: {field: reg2, bits: 4, flags: {f: {bit: 1}, g: {bit: 1}}}}')).toThrow(/f and g share bit 1/);
    expect(() =>
      parse('registers: {a: {field: reg2, bits: 4, flags: {f: {bit: 1}}}, b: {field: reg3, bits: 4, flags: {f: {bit: 0}}}}'),
    ).toThrow(/flag f declared in registers a and b/);
  });

  it('a flag in a 64-bit register or at an offset is masked where it really sits', () => {
    const p = new PipelineTables(
      parse(
        'registers: {a: {field: reg2, bits: 8, offset: 8, flags: {f: {bit: 2}}}, m: {field: metadata, bits: 64, flags: {g: {bit: 40}}}}',
      ),
    );
    expect(p.flag('f')).toEqual({ field: 'reg2', mask: 0x400 });
    expect(p.flag('g')).toEqual({ field: 'metadata', mask: 1n << 40n });
  });

  it('a table that misses to the controller names an opcode of its owner, and its miss flow carries it', () => {
    const doc = (missOpcode: string) => `tables:
  - {id: 0, name: a, owner: x, miss: controller${missOpcode}}
cookies: {apps: {x: 1, y: 3, pipeline: 2}}
packet_in_opcodes: {x_miss: {id: 9, owner: x}, y_miss: {id: 10, owner: y}}
`;
    expect(() => parsePipeline(doc(''))).toThrow(/miss_opcode must name an opcode of x/);
    expect(() => parsePipeline(doc(', miss_opcode: y_miss'))).toThrow(/miss_opcode/);
    const [miss] = new PipelineTables(parsePipeline(doc(', miss_opcode: x_miss'))).missFlows();
    expect(miss!.instructions).toEqual([
      { type: 'apply_actions', actions: [{ type: 'controller', maxLen: 0xffff, v2: true, userdata: Buffer.from([0, 9]) }] },
    ]);
  });

  it('refuses opcodes with clashing or out-of-range ids, or an owner without a cookie id', () => {
    expect(() => parse('packet_in_opcodes: {a: {id: 1, owner: x}, b: {id: 1, owner: x}}')).toThrow(/a and b share id 1/);
    expect(() => parse('packet_in_opcodes: {a: {id: 0, owner: x}}')).toThrow(/1..65535/);
    expect(() => parse('packet_in_opcodes: {a: {id: 70000, owner: x}}')).toThrow(/1..65535/);
    expect(() => parse('packet_in_opcodes: {a: {id: 1, owner: nat}}')).toThrow(PipelineError);
    expect(() => parse('packet_in_opcodes: {a: {id: 1, owner: pipeline}}')).toThrow(/owner must be an app/);
  });
});
