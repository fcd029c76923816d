/**
 * The tier-up policy's numbers (src/util/tier-up.ts): the ×4 budget is four times this Node's V8 default, which is
 * what a process under sustained write load goes back to, once, at its RELAX_AFTER_WRITES-th write.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { budgetRelaxer, RELAX_AFTER_WRITES, TIER_UP_FLAGS, V8_DEFAULT_BUDGET_FLAG } from '../../src/util/tier-up.js';

/** This Node's V8 default for a flag, as `node --v8-options` prints it. */
function v8Default(flag: string): string {
  const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  const m = new RegExp(`default: (--${flag}=\\S+)`).exec(options);
  if (!m) throw new Error(`node --v8-options names no default for --${flag}`);
  return m[1]!;
}

describe('tier-up policy', () => {
  it("V8_DEFAULT_BUDGET_FLAG is this Node's own default, and the raised budget four times it", () => {
    expect(V8_DEFAULT_BUDGET_FLAG).toBe(v8Default('interrupt-budget'));
    const budget = (flag: string): number => Number(flag.split('=')[1]);
    const raised = TIER_UP_FLAGS.find((f) => f.startsWith('--interrupt-budget='))!;
    expect(budget(raised)).toBe(4 * budget(V8_DEFAULT_BUDGET_FLAG));
  });

  it('goes back to V8’s budget once, at the threshold-th write, and never before', () => {
    const set: string[] = [];
    const note = budgetRelaxer(3, (f) => set.push(f));
    note();
    note();
    expect(set).toEqual([]);
    note();
    expect(set).toEqual([V8_DEFAULT_BUDGET_FLAG]);
    for (let i = 0; i < 10; i++) note();
    expect(set).toEqual([V8_DEFAULT_BUDGET_FLAG]);
    expect(RELAX_AFTER_WRITES).toBeGreaterThanOrEqual(1000); // not before a burst after idling has passed
  });
});
