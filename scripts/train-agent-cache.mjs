#!/usr/bin/env node
/**
 * Build step (npm run build, after scripts/bundle-agent.mjs; the package build with its own runtime): trains the agent
 * bundle's V8 code cache on real agent starts (src/sandbox/code-cache-training.ts; why: docs/footprint.md, "Start-up,
 * fourth pass") and records what it trained on in dist/agent/agent.cjs.v8cache.json, which `boot.cjs
 * --check-code-cache` reports.
 *
 *   node scripts/train-agent-cache.mjs [--node PATH] [--agent-dir DIR]   (defaults: this node, the checkout's dist/agent)
 *
 * It needs what a sandbox needs (root, Open vSwitch); etcd is trained on when an `etcd` binary is installed. Without
 * them it says why and leaves the cache made from the bundle's top level (correct, only slower to start).
 * WYVERN_TRAIN_CODE_CACHE=0 skips it.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { node: { type: 'string' }, 'agent-dir': { type: 'string' } } });
const agentDir = resolve(values['agent-dir'] ?? join(dirname(fileURLToPath(import.meta.url)), '../dist/agent'));
// The package root the bundle belongs to (a checkout, or the package's /usr/lib/wyvern being built): its dist/src.
const root = resolve(agentDir, '../..');
const runtime = values.node ?? process.execPath;
const record = join(agentDir, 'agent.cjs.v8cache.json');
const say = (line) => process.stdout.write(`${line}\n`);

function found(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function whyNot() {
  if (process.env.WYVERN_TRAIN_CODE_CACHE === '0') return 'WYVERN_TRAIN_CODE_CACHE=0';
  if (process.getuid?.() !== 0) return 'not root (a sandbox needs network namespaces and Open vSwitch)';
  const missing = ['ovs-vswitchd', 'ovsdb-server', 'ovs-vsctl', 'ip'].filter((c) => !found(c));
  if (missing.length) return `not installed: ${missing.join(', ')}`;
  return undefined;
}

// A record belongs to the cache it describes: whatever happens below, an older one must not outlive it.
rmSync(record, { force: true });
const reason = whyNot();
if (reason) {
  say(`agent code cache: not trained (${reason}); the cache holds the bundle's top level only`);
  process.exit(0);
}
const { AGENT_NODE_FLAGS } = await import(join(root, 'dist/src/agent/node-flags.js'));
const { trainAgentCodeCache } = await import(join(root, 'dist/src/sandbox/code-cache-training.js'));
const stores = found('etcd') ? ['level', 'etcd'] : ['level'];
const runs = await trainAgentCodeCache({ command: [runtime, ...AGENT_NODE_FLAGS, join(agentDir, 'boot.cjs')], stores, log: say });
const bundle = readFileSync(join(agentDir, 'agent.cjs'));
writeFileSync(
  record,
  JSON.stringify({ bundleSha256: createHash('sha256').update(bundle).digest('hex'), trainedOn: runs.map((r) => r.store) }) + '\n',
);
if (stores.length < 2) say('agent code cache: etcd not installed, trained on a level store only');
