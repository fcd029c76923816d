/**
 * The canonical text (stable) is the flow manager's notion of "same flow": its fast paths must give exactly the
 * text of the plain definition (sorted keys, hex numbers, output max_len ignored unless to the controller, field
 * aliases), checked here against that definition on random flow-shaped data.
 */
import { describe, expect, it } from 'vitest';
import { stable } from '../../src/flows/canonical.js';

function valueText(v: unknown): string {
  if (typeof v === 'bigint' || typeof v === 'number') return `0x${v.toString(16)}`;
  if (typeof v === 'string') return v.toLowerCase();
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `0x${Buffer.from(v).toString('hex')}`;
  return reference(v);
}

/** The definition, written the obvious way. */
function reference(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'string') return valueText(v);
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return valueText(v);
  if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .filter((k) => !(k === 'maxLen' && o.type === 'output' && o.port !== 'controller'))
      .sort();
    const alias = (k: string, x: unknown) =>
      (k === 'src' || k === 'dst' || k === 'field') && typeof x === 'string' ? x.replace(/_nxm$/, '') : x;
    return `{${keys.map((k) => `${k}:${reference(alias(k, o[k]))}`).join(',')}}`;
  }
  return String(v);
}

function rand(n: number): number {
  return Math.floor(Math.random() * n);
}

function randomAction(): Record<string, unknown> {
  switch (rand(6)) {
    case 0:
      return { type: 'conjunction', id: rand(1e6), clause: rand(3), nClauses: 2 + rand(2) };
    case 1: // a conjunction-like object the fast path must not take
      return { type: 'conjunction', id: rand(1e6), clause: rand(3), nClauses: 2, extra: rand(2) ? 'x' : undefined };
    case 2:
      return { type: 'output', port: rand(2) ? 'controller' : rand(100), maxLen: rand(2) ? 0xffff : undefined };
    case 3:
      return { type: 'set_field', field: rand(2) ? 'eth_src_nxm' : 'reg7', value: rand(2) ? 0x1234n : 'AA:bb:CC:00:00:01' };
    case 4:
      return { type: 'reg_load', dst: 'reg0', ofs: rand(32), nBits: 1, value: BigInt(rand(2)) };
    default:
      return { type: 'ct', flags: rand(3), zone: rand(10), recircTable: rand(2) ? 54 : undefined, actions: [randomAction()] };
  }
}

describe("stable: fast paths give the definition's text", () => {
  it('on 5,000 random instruction lists', () => {
    for (let i = 0; i < 5000; i++) {
      const instructions = [
        { type: 'apply_actions', actions: Array.from({ length: rand(6) }, randomAction) },
        ...(rand(2) ? [{ type: 'goto_table', tableId: rand(60) }] : []),
        ...(rand(3) === 0 ? [{ type: 'write_metadata', metadata: BigInt(rand(1000)), mask: 0xffffffffffffffffn }] : []),
      ];
      expect(stable(instructions)).toBe(reference(instructions));
    }
  });
});
