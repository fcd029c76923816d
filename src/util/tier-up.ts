import { createRequire } from 'node:module';

/** V8's own tier-up budget (V8 11.3, Node 20; `node --v8-options`, checked by test/unit/tier-up.test.ts). */
const V8_DEFAULT_BUDGET = 67_584;

/**
 * V8's tier-up policy for wyvern's long-running processes (the agent, `wyvern api`): a budget four times V8's default
 * (67,584), so that a function must run about four times as much before TurboFan optimises it, and no optimisation
 * of small functions on their first tick (V8 otherwise optimises any function under 81 bytes of bytecode as soon as
 * its budget first runs out, whatever the budget). Until sustained load: after RELAX_AFTER_WRITES API writes a
 * process goes back to V8's own budget (noteApiWrite, below).
 *
 * Why: both serve bursts after idling (1,000 port creations at once; a thousand VIFs plugged). With V8's default, the
 * first thousands of API requests had TurboFan optimise hundreds of lukewarm functions of the request path (HTTP
 * parsing, streams, routing, planning, the etcd client): ~500 compilations in the first 3,000 creations of one
 * `wyvern api` process, on V8's worker threads, which used 240–320 ms of the process's 500–730 ms of CPU per 1,000
 * creations. On a 2-core hypervisor those compilations compete with the work. With this budget the same process used
 * 70–140 ms on those threads and 0.35–0.50 ms of CPU per creation in its first 1,000 (default 0.51–0.58), the same total
 * over 8,000 creations (docs/northbound-writes.md, fourteenth session). The agent's flow computation measured the same
 * with either (bench:flow-burst), its hot loops being hot enough under both.
 *
 * The small functions: the first function an agent optimised, binding its first VIFs, was Node's own `wrappedFn`
 * (hideStackFrames: every validator of node:net, node:buffer… goes through it), optimised on its first tick. That one
 * compilation mapped TurboFan's code, 3.3 MB of the node binary that stay resident: 53.3 MB against 49.8 for the same
 * agent without it (bench:agent, fourteenth session). Optimising compilations still come when something is hot (a
 * burst of 1,000 ports does it), and then TurboFan's pages are resident for good. The codecs (bench:openflow) and the
 * flow computation (bench:flow-burst) measured the same with and without it.
 *
 * Set while the process runs, not on the command line: a flag there changes V8's flag hash and Node's code cache of
 * its built-in modules would be rejected (src/agent/node-flags.ts). V8 reads both whenever it resets a function's
 * budget.
 */
export const TIER_UP_FLAGS: readonly string[] = [`--interrupt-budget=${4 * V8_DEFAULT_BUDGET}`, '--max-bytecode-size-for-early-opt=0'];

/** V8's own budget flag, which a process under sustained write load goes back to. */
export const V8_DEFAULT_BUDGET_FLAG = `--interrupt-budget=${V8_DEFAULT_BUDGET}`;

/** Sets a V8 flag in this process (a require, not an import(): the agent bundle has no module loader). */
function setV8Flag(flag: string): void {
  (createRequire(import.meta.url)('node:v8') as typeof import('node:v8')).setFlagsFromString(flag);
}

/** Sets TIER_UP_FLAGS in this process. */
export function setServerTierUp(): void {
  for (const flag of TIER_UP_FLAGS) setV8Flag(flag);
}

/**
 * API writes (POST, PUT, PATCH, DELETE) this process serves before it goes back to V8's budget: RELAX_AFTER_WRITES.
 *
 * Why: the ×4 budget is for a burst after idling, when compiling lukewarm functions competes with the work. A process
 * that has served thousands of writes is under sustained load: its request path is known hot, and V8's budget then
 * optimises the rest of it sooner. `wyvern api` measured with V8's budget from its start, once warm: 10–20 % more
 * creations a second, but 15–25 % fewer in its first thousand (docs/northbound-writes.md, twenty-second session).
 * Going back after the first thousands keeps both: three warm processes spent 120 µs of CPU per creation against
 * 163, and sustained creations through them read 0.51 of etcd's put rate against 0.45 (medians of 13 runs,
 * twenty-third session). 2,000 is past a burst after idling as issue 17 has it (1,000 creations over three agents'
 * APIs, ~333 each) and past every fresh row of bench:writes (at most 1,300 a process).
 * Memory: by then TurboFan's pages are resident anyway (a burst of writes optimises the request path; one `wyvern
 * api` after 8,000 creations measured the same either way), and an agent whose API is never loaded keeps the ×4
 * budget.
 */
export const RELAX_AFTER_WRITES = 2000;

/** Counts API writes; the threshold-th sets V8's budget back (setFlag) for the rest of the process's life. */
export function budgetRelaxer(threshold: number, setFlag: (flag: string) => void): () => void {
  let served = 0;
  return () => {
    if (++served === threshold) setFlag(V8_DEFAULT_BUDGET_FLAG);
  };
}

/** This process's relaxer, which the API server calls for every write it serves. */
export const noteApiWrite = budgetRelaxer(RELAX_AFTER_WRITES, setV8Flag);
