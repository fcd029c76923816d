/**
 * V8 settings of the agent process: the packaged launcher (/usr/bin/wyvern, scripts/package) and the sandbox's
 * agents (src/sandbox/agents.ts) run `node` with these, so what is measured is what ships. Why, measured with
 * `npm run bench:agent` in A/B pairs (docs/footprint.md):
 * - `--max-semi-space-size=1` (MB): V8 lets the young generation grow to two 16 MB semi-spaces under an
 *   allocation burst (a flow recompute, 1,000 ports binding) and keeps them, resident, afterwards; the agent's
 *   short-lived garbage does not need more than 1 MB to die young. Costs more, shorter scavenges.
 * - `--optimize-for-size`: V8 grows the old generation more slowly (smaller heap growing factor, memory
 *   reducer sooner): without it the heap after binding 1,000 ports held about as much garbage as live data.
 * Neither caps the heap: a bigger topology still gets all the memory it needs (no --max-old-space-size).
 * They cost no measurable start-up time since the API, prom-client and yaml load after the first flows (they
 * did, ~130 ms, while ~20 MB of modules loaded in a 1 MB young generation); given later instead
 * (WYVERN_V8_LATE_FLAGS) they do not shrink an already sized young generation: measured, the idle agent is larger.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];

/**
 * V8 settings given once the agent started (`v8.setFlagsFromString`) instead of on the command line:
 * WYVERN_V8_LATE_FLAGS (separated by spaces or commas). Kept to reproduce the measurement in docs/footprint.md
 * (they do not keep the command line's benefit); nothing sets it by default.
 */
export function applyLateNodeFlags(env: NodeJS.ProcessEnv, set: (flag: string) => void): string[] {
  const flags = (env.WYVERN_V8_LATE_FLAGS ?? '').split(/[\s,]+/).filter((f) => f !== '');
  for (const f of flags) set(f);
  return flags;
}
