#!/usr/bin/env node
/**
 * Build step (npm run build, after tsc): the agent as one CommonJS file with a V8 code cache, started by the
 * package's launcher and the sandbox (docs/footprint.md, "Start-up, third pass"):
 *   dist/agent/agent.cjs          src/agent/main.ts and everything it imports, node_modules included, except
 *                                 classic-level (a native addon, loaded from node_modules when the store is level:)
 *   dist/agent/boot.cjs           scripts/agent-boot.cjs: compiles agent.cjs with the cache and runs `wyvern agent`
 *   dist/agent/default.parsed.json the pipeline's parsed copy (scripts/precompile-pipeline.mjs), found beside the bundle
 *   dist/agent/agent.cjs.map      its source map (not loaded at run time: maps a stack trace's bundle positions back)
 *   dist/agent/agent.cjs.v8cache  V8's code cache of agent.cjs, made by running the boot with the agent's V8 flags
 *                                 (a cache made with other flags is rejected by V8), then trained on real agent
 *                                 starts where a sandbox can run (scripts/train-agent-cache.mjs)
 *   dist/agent/agent.cjs.v8cache.json  what it was trained on (absent: not trained)
 * Run from the package root: node scripts/bundle-agent.mjs
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const out = 'dist/agent';
/** How the bundle starts: the function Node's CommonJS loader would wrap it in (scripts/agent-boot.cjs runs it). */
const BUNDLE_WRAPPER_START = '(function (exports, require, module, __filename, __dirname) { ';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: ['src/agent/main.ts'],
  outfile: join(out, 'agent.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // A native addon cannot be bundled; it is a production dependency, installed beside dist/.
  external: ['classic-level'],
  // Paths the modules find relative to themselves (the pipeline YAML, its parsed copy) resolve from dist/agent/.
  define: { 'import.meta.url': '__agentBundleUrl' },
  // The file is the CommonJS function wrapper itself (BUNDLE_WRAPPER_START … '});'), as Node's module.wrap() would
  // make it: the boot compiles the text it read as it is. Wrapping it at start made a second copy of the bundle's
  // 0.8 MB, which stayed in the heap until a full GC (docs/footprint.md, fifth pass).
  // "use strict" first: esbuild's own directive comes after the banner, where it means nothing, and the agent's code
  // is ES modules, strict wherever else it runs (the CLI, the unit tests).
  banner: { js: `${BUNDLE_WRAPPER_START}"use strict";var __agentBundleUrl = require('node:url').pathToFileURL(__filename).href;` },
  footer: { js: '});' },
  // Whitespace and comments out: a smaller source to read, hash and keep in memory (V8 keeps a script's source), and
  // one the boot may read as latin1 (comments were the only place esbuild leaves non-ASCII). Names are kept, so a
  // stack trace still names its functions; the source map (not loaded at run time) maps positions back.
  minifyWhitespace: true,
  minifySyntax: true,
  charset: 'ascii',
  legalComments: 'external',
  sourcemap: 'external',
  logLevel: 'warning',
});

const bundle = readFileSync(join(out, 'agent.cjs'));
// The boot reads the bundle as latin1 (one byte a character); esbuild's ascii charset guarantees that is exact.
const nonAscii = bundle.findIndex((b) => b > 0x7f);
if (nonAscii >= 0) throw new Error(`dist/agent/agent.cjs: byte ${nonAscii} is not ASCII`);
if (
  !bundle.subarray(0, BUNDLE_WRAPPER_START.length).equals(Buffer.from(BUNDLE_WRAPPER_START)) ||
  !/\}\);\s*$/.test(bundle.subarray(-64).toString('latin1'))
)
  throw new Error('dist/agent/agent.cjs: not wrapped in its CommonJS function (the boot evaluates it as one)');
// A script run through node:vm has no module loader: a lazily loaded built-in is a require (src/util/lazy-tls.ts).
if (/\bimport\(/.test(bundle.toString('latin1')))
  throw new Error('dist/agent/agent.cjs: an import() is left, which would fail at run time (vm.Script has no module loader)');
// prom-client's index, and through its default metrics @opentelemetry/api, load what the agent never uses: its
// registry and metric types come one module each (src/api/prom.ts). A value import of 'prom-client' brings them back.
for (const unwanted of ['node_modules/prom-client/index.js', 'node_modules/@opentelemetry/'])
  if (bundle.includes(unwanted)) throw new Error(`dist/agent/agent.cjs: ${unwanted} is bundled (import from src/api/prom.ts instead)`);
copyFileSync('scripts/agent-boot.cjs', join(out, 'boot.cjs'));
copyFileSync('dist/src/pipeline/default.parsed.json', join(out, 'default.parsed.json'));

const { AGENT_NODE_FLAGS } = await import(new URL('../dist/src/agent/node-flags.js', import.meta.url).href);
execFileSync(process.execPath, [...AGENT_NODE_FLAGS, join(out, 'boot.cjs'), '--make-code-cache'], { stdio: 'inherit' });
// …then trained on real agent starts where a sandbox can run (root, Open vSwitch); it says when it cannot.
execFileSync(process.execPath, ['scripts/train-agent-cache.mjs'], { stdio: 'inherit' });
