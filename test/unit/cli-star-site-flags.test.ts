/** `wyvern network create|update --topology/--center` and `wyvern site …`: flag errors are usage errors (exit 2), before any API call. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/cli/common.js';
import { centerList, networkCommand } from '../../src/cli/resources.js';
import { siteCommand } from '../../src/cli/site.js';

// No API listens here: a command that got past its flags would fail with exit 1 (connection refused), not 2.
const api = ['--api', 'http://127.0.0.1:9'];

async function run(cmd: (argv: string[]) => Promise<number>, argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  });
  try {
    return { code: await cmd([...argv, ...api]), stderr };
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('network --topology / --center flags', () => {
  it('--center is a comma list without empty names', () => {
    expect(centerList('hv2,hv3')).toEqual(['hv2', 'hv3']);
    expect(() => centerList('hv2,')).toThrow(UsageError);
    expect(() => centerList(',')).toThrow(/--center needs HV/);
  });

  it('update needs something to change; --center and --no-center exclude each other', async () => {
    expect(await run(networkCommand, ['update', 's1'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/nothing to update/) });
    expect(await run(networkCommand, ['update', 's1', '--center', 'hv1', '--no-center'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--center and --no-center/),
    });
    expect(await run(networkCommand, ['create', 'n', '--center', 'hv1,,hv2'])).toMatchObject({ code: 2 });
    // Past its flags, the command reaches for the API (none here): exit 1.
    expect((await run(networkCommand, ['update', 's1', '--topology', 'star'])).code).toBe(1);
  });
});

describe('wyvern site flags', () => {
  it('gateway set needs SITE and --chassis HV[,HV]...; unknown verbs are usage errors', async () => {
    expect(await run(siteCommand, ['gateway', 'set', 'paris'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--chassis is required/),
    });
    expect(await run(siteCommand, ['gateway', 'set', 'paris', '--chassis', 'hv1,'])).toMatchObject({ code: 2 });
    expect(await run(siteCommand, ['gateway', 'set', '--chassis', 'hv1'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/missing SITE/),
    });
    expect(await run(siteCommand, ['gateway', 'move', 'paris'])).toMatchObject({ code: 2 });
    expect(await run(siteCommand, ['rename'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command "rename"/) });
    expect((await run(siteCommand, ['list'])).code).toBe(1);
  });
});
