import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// The codec is a library: `import { decodeMessage, encodeMessage } from 'wyvern/openflow'` on the built JS
// (test/global-setup.ts builds dist/ when it is stale), in a plain Node process as a user would run it.
describe('package exports', () => {
  it('wyvern/openflow round-trips a message from the built JS', () => {
    const script = `
      import { decodeMessage, encodeMessage, flowMod } from 'wyvern/openflow';
      const bytes = encodeMessage(flowMod({ tableId: 3, priority: 7, match: [{ field: 'in_port', value: 1 }],
        instructions: [{ type: 'goto_table', tableId: 4 }] }));
      const m = decodeMessage(bytes);
      console.log(JSON.stringify({ type: m.type, tableId: m.tableId, same: Buffer.compare(encodeMessage(m), bytes) === 0 }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ type: 'FLOW_MOD', tableId: 3, same: true });
  });

  it('the wyvern command runs from the built JS and answers --help', () => {
    const out = execFileSync(process.execPath, ['dist/src/cli/main.js', '--help'], { encoding: 'utf8' });
    expect(out).toMatch(/agent/);
    expect(out).toMatch(/sandbox/);
  });
});
