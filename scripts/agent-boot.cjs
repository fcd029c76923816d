'use strict';
/**
 * Starts `wyvern agent …` from the agent bundle beside this file (agent.cjs), compiled with V8's code cache
 * (agent.cjs.v8cache). Copied to dist/agent/boot.cjs by scripts/bundle-agent.mjs, which also makes the cache.
 *
 *   node [AGENT_NODE_FLAGS] dist/agent/boot.cjs [agent arguments…]     run the agent (what the package's launcher does)
 *   node [AGENT_NODE_FLAGS] dist/agent/boot.cjs --make-code-cache      (build step) write agent.cjs.v8cache
 *
 * Why: Node 20 compiles every ES module from source on each start (a module compile cache arrives in Node 22), and
 * resolving, reading and compiling ~200 of them was two thirds of a fresh agent's start (docs/footprint.md). One
 * CommonJS file compiled through vm.Script can be given a code cache.
 *
 * The cache is used only when it was made from exactly this bundle: it starts with the SHA-256 of the bundle it
 * was made from (V8 itself checks only its own version, its flags and the source's length). V8 rejects a cache made
 * by another Node or with other V8 flags (the cache is made with the agent's flags, src/agent/node-flags.ts); then,
 * and when the cache is missing, stale or unreadable, the bundle compiles from source, as fast as without a cache.
 * Which of these happened is in the agent's start timeline.
 */
const { createHash } = require('node:crypto');
const { readFileSync, writeFileSync, renameSync } = require('node:fs');
const { join } = require('node:path');
const { Script } = require('node:vm');
const { wrap, createRequire } = require('node:module');

const BUNDLE = join(__dirname, 'agent.cjs');
const CACHE = `${BUNDLE}.v8cache`;
/** The cache file: the bundle's SHA-256 (32 bytes), then V8's code cache. */
const HASH_BYTES = 32;

/** Compiles and evaluates the bundle; its exports: { agentCommand, markBoot }. */
function load(source, cachedData) {
  const script = new Script(wrap(source), { filename: BUNDLE, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, __dirname);
  return { script, exports: module.exports };
}

function readCache(hash) {
  let file;
  try {
    file = readFileSync(CACHE);
  } catch {
    return { status: 'absent' };
  }
  if (file.length <= HASH_BYTES || !file.subarray(0, HASH_BYTES).equals(hash)) return { status: 'stale' };
  return { status: 'used', data: file.subarray(HASH_BYTES) };
}

const t0 = performance.now();
const bytes = readFileSync(BUNDLE);
const hash = createHash('sha256').update(bytes).digest();
// The bundle is ASCII (esbuild escapes the rest; checked at build): latin1 makes a one-byte string, directly.
const source = bytes.toString('latin1');

if (process.argv[2] === '--make-code-cache') {
  const { script } = load(source, undefined);
  const data = script.createCachedData();
  const tmp = `${CACHE}.${process.pid}.tmp`;
  writeFileSync(tmp, Buffer.concat([hash, data]));
  renameSync(tmp, CACHE);
  process.stdout.write(`agent code cache: ${CACHE} (${data.length} bytes)\n`);
} else {
  const cache = readCache(hash);
  const { script, exports } = load(source, cache.data);
  const status = cache.status === 'used' && script.cachedDataRejected ? 'rejected by V8' : cache.status;
  exports.markBoot('boot started', t0);
  exports.markBoot(`bundle compiled and evaluated (code cache ${status})`);
  // `boot.cjs agent …` too, so the boot can stand in for `wyvern` where `wyvern agent …` is spelled out (WYVERN_CMD).
  const argv = process.argv.slice(process.argv[2] === 'agent' ? 3 : 2);
  exports.agentCommand(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`wyvern: ${(err && err.stack) || String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
