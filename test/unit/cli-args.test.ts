import { describe, expect, it } from 'vitest';
import { sandboxCommand } from '../../src/cli/sandbox.js';
import { parseFlags, UsageError } from '../../src/util/args.js';

describe('one flag parser for every command', () => {
  it('is strict: an unknown flag or a missing value is a UsageError naming it', () => {
    const opts = { store: { type: 'string' }, force: { type: 'boolean' } } as const;
    expect(parseFlags(['--store', 'x', '--force', 'pos'], opts)).toEqual({ values: { store: 'x', force: true }, positionals: ['pos'] });
    expect(parseFlags(['--store=y'], opts, { positionals: false }).values).toEqual({ store: 'y' });
    expect(() => parseFlags(['--bogus'], opts)).toThrow(new UsageError("Unknown option '--bogus'"));
    expect(() => parseFlags(['--store'], opts)).toThrow(UsageError);
    expect(() => parseFlags(['--store'], opts)).toThrow(/--store/);
    expect(() => parseFlags(['pos'], opts, { positionals: false })).toThrow(UsageError);
  });

  it("sandbox: usage errors exit 2 with the command's usage, unknown flags included", async () => {
    const run = async (argv: string[]) => {
      let err = '';
      const code = await sandboxCommand(argv, { out: () => undefined, err: (s) => void (err += s) });
      return { code, err };
    };
    const r = await run(['vm', 'add', 'h1', 'vm1', '--frob']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^wyvern sandbox: Unknown option '--frob'\nusage: wyvern sandbox/);
    const h = await run(['up', '--hosts', 'x']);
    expect(h).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--hosts wants a number, got "x"\nusage: wyvern sandbox \[--name NAME\] up/),
    });
  });
});
