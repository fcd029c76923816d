'use strict';
const t0 = performance.now();
/**
 * Starts `wyvern agent …` from the agent bundle beside this file (agent.cjs), compiled with V8's code cache
 * (agent.cjs.v8cache). Copied to dist/agent/boot.cjs by scripts/bundle-agent.mjs, which also makes the cache.
 *
 *   node dist/agent/boot.cjs [agent arguments…]   run the agent (what the package's launcher does)
 *   node dist/agent/boot.cjs --make-code-cache    (build step) write agent.cjs.v8cache
 *   node dist/agent/boot.cjs --check-code-cache   say whether V8 would use the cache: used, absent, stale, rejected by V8
 *   WYVERN_TRAIN_CODE_CACHE=1 node dist/agent/boot.cjs …   (build step) run the agent, and once its first flows are on
 *                                                  the switch write the cache again, with all the start compiled
 *
 * Why: Node 20 compiles every ES module from source on each start (a module compile cache arrives in Node 22), and
 * resolving, reading and compiling ~200 of them was two thirds of a fresh agent's start (docs/footprint.md). One
 * CommonJS file compiled through vm.Script can be given a code cache.
 *
 * The cache is used only when it was made from exactly this bundle: it starts with the SHA-256 of the bundle it
 * was made from (V8 itself checks only its own version, its flags and the source's length). V8 rejects a cache made
 * by another Node or under other V8 flags; then, and when the cache is missing or stale, the bundle compiles from
 * source, as fast as without a cache. Which of these happened is in the agent's start timeline.
 *
 * What the cache holds: V8 compiles a function when it is first called, and a cache holds only the functions compiled
 * when it was made. Made right after the bundle's top level ran (--make-code-cache), it spares the start only that;
 * made by a training run (an agent started on a real switch and store, scripts/train-agent-cache.mjs) once its first
 * flows are on the switch, it holds everything a start runs, and a start compiles next to nothing.
 *
 * The built-ins the agent loads before its first flows are loaded here first, while V8's flags are still Node's
 * own, so that Node's code cache of them is used; only then are the agent's V8 flags set (the young generation's
 * growth and the baseline compiler turned off, V8's tier-up policy; why and how: src/agent/node-flags.ts,
 * AGENT_RUNTIME_V8_FLAGS, which a unit test checks this list against). A built-in missing from the list still works;
 * it only compiles from source, and the agent's start timeline names it (lateBuiltins; the agent-start test wants
 * none). Making and using the cache go through the same steps, so V8 sees the same flags.
 */
const { createHash } = require('node:crypto');
const { readFileSync, writeFileSync, renameSync, rmSync } = require('node:fs');
const { join } = require('node:path');
const { Script } = require('node:vm');
const { createRequire } = require('node:module');

const BUNDLE = join(__dirname, 'agent.cjs');
const CACHE = `${BUNDLE}.v8cache`;
/** What the cache was trained on, written by scripts/train-agent-cache.mjs: { bundleSha256, trainedOn: [store…] }. */
const TRAINING_RECORD = `${CACHE}.json`;
/** The cache file: the bundle's SHA-256 (32 bytes), then V8's code cache. */
const HASH_BYTES = 32;
const RUNTIME_V8_FLAGS = [
  '--semi-space-growth-factor=1',
  '--no-sparkplug',
  '--interrupt-budget=270336',
  '--max-bytecode-size-for-early-opt=0',
];
// prettier-ignore
const START_BUILTINS = ['node:net', 'node:stream', 'node:stream/promises', 'node:string_decoder', 'node:fs/promises',
  'node:os', 'node:perf_hooks', 'node:diagnostics_channel', 'node:assert', 'node:worker_threads', 'node:timers/promises',
  'node:http2'];
/** Only the etcd client (gRPC) needs it: an agent on a level store that loaded it would hold 0.35 MB for nothing. */
const ETCD_BUILTINS = ['node:http2'];
const DEFAULT_CONFIG = '/etc/wyvern/agent.yaml';

/** The last value of `--name V` / `--name=V` in argv, if any. */
function flagValue(argv, name) {
  let value;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) value = argv[++i];
    else if (argv[i].startsWith(`${name}=`)) value = argv[i].slice(name.length + 1);
  }
  return value;
}

/**
 * The store's URL scheme as `wyvern agent` will resolve its setting (a flag, else WYVERN_STORE, else the config file's
 * `store:`, else the default level store), or undefined when that cannot be told without parsing the YAML (the key
 * written in another way than `store: URL` on a line of its own). `readText(path)` returns the file's text, or
 * undefined if it does not exist. A guess only decides which built-ins load early: a wrong one costs start-up time
 * (node:http2 compiled from source when the etcd client loads it) or 0.35 MB, never function.
 */
function storeScheme(argv, env, readText) {
  const scheme = (url) => /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url ?? '')?.[1]?.toLowerCase();
  const flag = flagValue(argv, '--store');
  if (flag !== undefined) return scheme(flag);
  if (env.WYVERN_STORE !== undefined) return scheme(env.WYVERN_STORE);
  const path = flagValue(argv, '--config');
  const text = readText(path ?? DEFAULT_CONFIG);
  if (text === undefined) return path === undefined ? 'level' : undefined; // a --config that is missing: the agent refuses it
  let found = 'level';
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*#/.test(line) || !/\bstore\b["']?\s*:/.test(line)) continue; // storeCa: and the like do not match
    const m = /^store:[ \t]*(["']?)([^"'#\s]*)\1[ \t]*(#.*)?$/.exec(line);
    if (!m) return undefined; // indented, quoted key, flow mapping, a value on the next line…
    found = scheme(m[2]);
  }
  return found;
}

/** START_BUILTINS less the etcd client's when the agent's store is surely not etcd. */
function startBuiltins(argv, env, readText) {
  const s = storeScheme(argv, env, readText);
  return s === 'level' || s === 'memory' ? START_BUILTINS.filter((m) => !ETCD_BUILTINS.includes(m)) : START_BUILTINS;
}

function readTextIfAny(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    return ''; // unreadable: the agent will say so; nothing to learn here
  }
}

function prepareRuntime(argv) {
  for (const m of startBuiltins(argv, process.env, readTextIfAny)) require(m);
  void require('node:util').parseArgs; // a lazy getter: loads its internal module (the agent parses its arguments)
  for (const flag of RUNTIME_V8_FLAGS) require('node:v8').setFlagsFromString(flag);
}

/** The bundle's text and the cache made from it, if any: { source, hash, status: 'used' | 'absent' | 'stale', data }. */
function readBundle() {
  const bytes = readFileSync(BUNDLE);
  const hash = createHash('sha256').update(bytes).digest();
  // The bundle is ASCII (esbuild escapes the rest; checked at build): latin1 makes a one-byte string, directly.
  const source = bytes.toString('latin1');
  let file;
  try {
    file = readFileSync(CACHE);
  } catch {
    return { source, hash, status: 'absent' };
  }
  if (file.length <= HASH_BYTES || !file.subarray(0, HASH_BYTES).equals(hash)) return { source, hash, status: 'stale' };
  return { source, hash, status: 'used', data: file.subarray(HASH_BYTES) };
}

/**
 * The bundle is its own CommonJS function wrapper (scripts/bundle-agent.mjs): compiled as it was read, it evaluates to
 * that function. Wrapped here (module.wrap), its 0.8 MB would be copied once more and kept until a full GC.
 */
function compile(source, cachedData) {
  return new Script(source, { filename: BUNDLE, ...(cachedData ? { cachedData } : {}) });
}

/** Evaluates the compiled bundle (its wrapper function, called as Node calls a module's); its exports: { agentCommand, markBoot, markPreloaded, whenStarted }. */
function evaluate(script) {
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, __dirname);
  return module.exports;
}

/** ', trained on level, etcd' when the training record is this bundle's, else ''. */
function trainedOn(hash) {
  try {
    const r = JSON.parse(readFileSync(TRAINING_RECORD, 'utf8'));
    return r.bundleSha256 === hash.toString('hex') ? `, trained on ${r.trainedOn.join(', ')}` : '';
  } catch {
    return '';
  }
}

/** Writes the cache of what `script` has compiled so far (whole, then renamed: a start never reads half of it). */
function writeCache(script, hash) {
  const data = script.createCachedData();
  const tmp = `${CACHE}.${process.pid}.tmp`;
  writeFileSync(tmp, Buffer.concat([hash, data]));
  renameSync(tmp, CACHE);
  return data.length;
}

/**
 * The bundle compiled (with its cache when it may be used): { script, status, hash }. Its text and the cache's bytes
 * are left to the garbage collector when this returns (V8 keeps the one copy of the text it compiled): nothing that
 * lives as long as the agent may hold them — 1.8 MB of an idle agent's heap when main() kept them.
 */
function load() {
  const bundle = readBundle();
  const script = compile(bundle.source, bundle.data);
  const status = bundle.status === 'used' && script.cachedDataRejected ? 'rejected by V8' : bundle.status;
  return { script, status, hash: bundle.hash };
}

/** `boot.cjs agent …` too, so the boot can stand in for `wyvern` where `wyvern agent …` is spelled out (WYVERN_CMD). */
function agentArgs() {
  return process.argv.slice(process.argv[2] === 'agent' ? 3 : 2);
}

/** Runs `wyvern agent` from the compiled bundle. */
function run(script, status, hash, preloaded) {
  const exports = evaluate(script);
  exports.markPreloaded(preloaded);
  if (process.env.WYVERN_TRAIN_CODE_CACHE === '1')
    exports.whenStarted(() => {
      // The training's end, which scripts/train-agent-cache.mjs waits for in the agent's log (stderr).
      process.stderr.write(`agent code cache trained: ${writeCache(script, hash)} bytes\n`);
    });
  exports.markBoot('boot started', t0);
  exports.markBoot(`bundle compiled and evaluated (code cache ${status})`);
  exports.agentCommand(agentArgs()).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`wyvern: ${(err && err.stack) || String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

function makeCache() {
  const bundle = readBundle();
  const script = compile(bundle.source, undefined);
  evaluate(script);
  process.stdout.write(`agent code cache: ${CACHE} (${writeCache(script, bundle.hash)} bytes)\n`);
  rmSync(TRAINING_RECORD, { force: true }); // this cache is not the trained one any more
}

function main(mode) {
  prepareRuntime(agentArgs());
  const preloaded = process.moduleLoadList.length;
  if (mode === '--make-code-cache') return makeCache();
  const { script, status, hash } = load();
  if (mode === '--check-code-cache') return void process.stdout.write(`${status}${status === 'used' ? trainedOn(hash) : ''}\n`);
  run(script, status, hash, preloaded);
}

if (require.main === module) main(process.argv[2]);
else module.exports = { RUNTIME_V8_FLAGS, START_BUILTINS, startBuiltins };
