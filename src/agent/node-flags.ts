import { createRequire } from 'node:module';

/**
 * V8 settings of the agent process: the packaged launcher (/usr/bin/wyvern, scripts/package) and the sandbox's
 * agents (src/sandbox/agents.ts) run `node` with these, so what is measured is what ships (docs/footprint.md):
 * - `--max-semi-space-size=1` (MB): V8 lets the young generation grow to two 16 MB semi-spaces under an
 *   allocation burst (a flow recompute, 1,000 ports binding) and keeps them, resident, afterwards; the agent's
 *   short-lived garbage does not need more than 1 MB to die young. Costs more, shorter scavenges; no measurable
 *   start-up time since the API, prom-client and yaml load after the first flows.
 * `--optimize-for-size` was given too until the second pass measured it alone: with 1,000 ports bound the agent
 * was no smaller with it (RSS 139.4 and 141.5 MB with both flags, 131.0 and 136.4 with this one only, same hour),
 * idle and start-up no different, and it costs ~10 % of the codec's speed.
 * Neither caps the heap: a bigger topology still gets all the memory it needs (no --max-old-space-size).
 * Given later instead (WYVERN_V8_LATE_FLAGS) they do not shrink an already sized young generation: measured,
 * the idle agent is larger.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/**
 * V8 settings given once the agent started (`v8.setFlagsFromString`) instead of on the command line:
 * WYVERN_V8_LATE_FLAGS (separated by spaces or commas). Kept to reproduce the measurement in docs/footprint.md
 * (they do not keep the command line's benefit); nothing sets it by default, so node:v8 is loaded only then (a
 * require: the agent bundle has no loader for import(), see scripts/bundle-agent.mjs).
 */
export function applyLateNodeFlags(env: NodeJS.ProcessEnv): string[] {
  const flags = (env.WYVERN_V8_LATE_FLAGS ?? '').split(/[\s,]+/).filter((f) => f !== '');
  if (flags.length === 0) return flags;
  const { setFlagsFromString } = createRequire(import.meta.url)('node:v8') as typeof import('node:v8');
  for (const f of flags) setFlagsFromString(f);
  return flags;
}
