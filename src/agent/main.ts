/**
 * The entry of the agent bundle (dist/agent/agent.cjs, made by scripts/bundle-agent.mjs and started by
 * dist/agent/boot.cjs, which compiles it with V8's code cache): `wyvern agent …` and nothing else, in one file.
 * Why a bundle at all: docs/footprint.md, "Start-up, third pass".
 */
export { agentCommand } from './cli.js';
export { markBoot, markPreloaded, whenStarted } from './start-trace.js';
