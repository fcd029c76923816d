/**
 * The codec is strict in what it sends and liberal in what it accepts: every encode failure is one typed
 * error (OfpEncodeError naming the message and the offset reached), and pad bytes are ignored on decode
 * (another switch's flow-stats reply carries non-zero match padding; OVS reads it) but written as zeros.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  encodeMessages,
  flowMod,
  OfpEncodeError,
  type FlowStats,
  type OfMessage,
} from '../../src/openflow/index.js';

const ok = flowMod({ tableId: 1, priority: 100, match: [{ field: 'in_port', value: 1 }], instructions: [] });

function encodeFailure(m: OfMessage): OfpEncodeError {
  try {
    encodeMessage(m);
  } catch (err) {
    expect(err).toBeInstanceOf(OfpEncodeError);
    return err as OfpEncodeError;
  }
  throw new Error('encoded');
}

describe('encode failures are one typed error', () => {
  it.each<[string, OfMessage]>([
    ['priority 70000 (u16 range)', { ...ok, priority: 70_000 }],
    ['table id 300', { ...ok, tableId: 300 }],
    ['unknown match field', { ...ok, match: [{ field: 'no_such_field', value: 1 } as never] }],
    ['unknown action', { ...ok, instructions: [{ type: 'apply_actions', actions: [{ type: 'no_such_action' } as never] }] }],
    [
      'unknown reserved port',
      { ...ok, instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 'nowhere' as never }] }] },
    ],
    ['cookie out of range', { ...ok, cookie: 1n << 64n }],
    ['unknown flow_mod command', { ...ok, command: 'frobnicate' as never }],
    ['unknown message type', { type: 'NO_SUCH', xid: 0 } as never],
  ])('%s', (_name, m) => {
    const err = encodeFailure(m);
    expect(err.what).toBeTypeOf('string');
    expect(err.where).toBeGreaterThanOrEqual(0);
    if (m.type === 'FLOW_MOD') expect(err.what).toMatch(/^FLOW_MOD table \d+ priority \d+$/);
  });

  it('names the failing message of a batch and the failing inner message of a bundle add', () => {
    expect(() => encodeMessages([ok, { ...ok, priority: 70_000 }])).toThrow(/message #1/);
    const err = encodeFailure({ type: 'BUNDLE_ADD', xid: 1, bundleId: 1, flags: 0, message: { ...ok, priority: 70_000 } });
    expect(err.what).toBe('FLOW_MOD table 1 priority 70000');
  });

  it('a good message encodes fine after a failure (the shared slab is not left dirty)', () => {
    encodeFailure({ ...ok, priority: 70_000 });
    expect(decodeMessage(encodeMessage(ok))).toMatchObject({ type: 'FLOW_MOD', priority: 100 });
  });
});

describe('pad bytes are ignored on decode', () => {
  const flow: FlowStats = {
    tableId: 10,
    durationSec: 1,
    durationNsec: 2,
    priority: 100,
    idleTimeout: 0,
    hardTimeout: 0,
    flags: 0,
    cookie: 7n,
    packetCount: 0n,
    byteCount: 0n,
    match: [{ field: 'in_port', value: 5 }],
    instructions: [{ type: 'goto_table', tableId: 20 }],
  };
  const reply: OfMessage = { type: 'MULTIPART_REPLY', xid: 9, flags: 0, body: { kind: 'flow', flows: [flow] } };

  /** The reply with every pad byte set to 0xa5: multipart header, flow-stats entry, match padding, goto_table. */
  function dirty(): Buffer {
    const b = Buffer.from(encodeMessage(reply));
    const pads: number[] = [];
    for (let i = 12; i < 16; i++) pads.push(i); // ofp_multipart_reply pad[4]
    const e = 16; // the flow-stats entry
    pads.push(e + 3); // pad after table_id
    for (let i = e + 20; i < e + 24; i++) pads.push(i); // pad2[4] after flags
    const match = e + 48; // ofp_match: type, length, one 8-byte OXM (in_port) = 12 bytes, padded to 16
    expect(b.readUInt16BE(match + 2)).toBe(12);
    for (let i = match + 12; i < match + 16; i++) pads.push(i);
    const goto = match + 16; // OFPIT_GOTO_TABLE: type, len, table_id, pad[3]
    for (let i = goto + 5; i < goto + 8; i++) pads.push(i);
    for (const i of pads) {
      expect(b[i], `byte ${i}`).toBe(0);
      b[i] = 0xa5;
    }
    return b;
  }

  it('a flow-stats reply with non-zero padding decodes to the same flows, and re-encodes with zeros', () => {
    const b = dirty();
    const m = decodeMessage(b);
    expect(m).toEqual(decodeMessage(encodeMessage(reply)));
    const again = encodeMessage(m);
    expect(again.length).toBe(b.length);
    expect(again.equals(encodeMessage(reply))).toBe(true);
  });

  it('Open vSwitch reads the same bytes too (ovs-ofctl ofp-print)', () => {
    const out = execFileSync('ovs-ofctl', ['ofp-print', dirty().toString('hex')], { encoding: 'utf8' });
    expect(out).toContain('in_port=5');
    expect(out).toContain('goto_table:20');
  });
});
