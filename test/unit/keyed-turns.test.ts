import { describe, expect, it } from 'vitest';
import { KeyedTurns } from '../../src/util/keyed-turns.js';

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

describe('KeyedTurns', () => {
  it('runs the tasks of one key one at a time, in arrival order; other keys side by side; a failure does not stop the next', async () => {
    const turns = new KeyedTurns();
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const task =
      (name: string, fail = false) =>
      async (): Promise<string> => {
        running++;
        most = Math.max(most, running);
        log.push(`start ${name}`);
        await tick();
        log.push(`end ${name}`);
        running--;
        if (fail) throw new Error(name);
        return name;
      };
    const a = [turns.run('r1', task('a1')), turns.run('r1', task('a2', true)), turns.run('r1', task('a3'))];
    const b = turns.run('r2', task('b1'));
    const results = await Promise.allSettled([...a, b]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['a1', 'a2', 'a3', 'b1']);
    expect(results[1]!.status).toBe('rejected');
    const r1 = log.filter((l) => l.endsWith('a1') || l.endsWith('a2') || l.endsWith('a3'));
    expect(r1).toEqual(['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
    expect(most).toBe(2); // r2's task ran beside r1's
    await tick();
    expect(turns.size).toBe(0);
  });
});
